"""'Changes since the previous packet' reads as sentences: no raw records, lists or field names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from packets.audit.changes import essence, sentences
from packets.packet import diff
from tests.packets.test_packet import content


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (
            {"section": "risk_level", "field": None, "before": "owner_only", "after": "chargeback_watch"},
            ["Risk: owner-only → chargeback watch."],
        ),
        (
            {"section": "recommendation", "field": "action", "before": "wait", "after": "offer_replacement"},
            ["Recommendation: wait → offer replacement."],
        ),
        (
            {
                "section": "order",
                "field": "customer",
                "before": {"name": "Ann Example", "email": "ann@example.com", "orders": 2},
                "after": {"name": "Ann Sample", "email": "ann@example.com", "orders": 2},
            },
            ["Customer's name changed."],
        ),
        (
            {"section": "supplier", "field": "silence_business_days", "before": 1, "after": 4},
            ["Business days without word from the supplier: 1 → 4."],
        ),
        (
            {
                "section": "evidence",
                "field": "uncertainty",
                "before": ["The supplier's word is weak."],
                "after": ["The supplier's word is weak.", 'The product page still says "In stock".'],
            },
            ['Uncertainty now also says: “The product page still says "In stock".”'],
        ),
        (
            {
                "section": "options",
                "field": None,
                "before": [{"action": "wait", "label": "Wait for the restock", "cost": None}],
                "after": [{"action": "offer_replacement", "label": "Offer a replacement", "cost": "12.00"}],
            },
            ["Options: added offer replacement; removed wait."],
        ),
    ],
)
def test_each_change_is_a_sentence(change, said):
    assert sentences(change) == said


def test_no_diff_of_two_packets_prints_a_record_a_list_or_a_field_name():
    before = {
        "summary": "Order #1001 waits.",
        "order": {"customer": {"name": "Ann", "email": "a@example.com"}, "total": "40.00"},
        "risk_level": "owner_only",
        "recommendation": {"action": "wait", "reason": "Supply is confirmed."},
        "evidence": {"uncertainty": ["One."]},
        "options": [{"action": "wait", "label": "Wait"}],
    }
    after = {
        "summary": "Order #1001 waits; the customer threatens a dispute.",
        "order": {"customer": {"name": "Anna", "email": "a@example.com"}, "total": "40.00"},
        "risk_level": "chargeback_watch",
        "recommendation": {"action": "refund", "reason": "A prompt refund costs less than a chargeback."},
        "evidence": {"uncertainty": ["One.", "Two."]},
        "options": [{"action": "wait", "label": "Wait"}, {"action": "refund", "label": "Refund"}],
    }
    said = [s for change in diff(before, after) for s in sentences(change)]
    assert len(said) >= 6
    for sentence in said:
        assert "{" not in sentence and "[" not in sentence and "_" not in sentence, sentence
        assert sentence[0].isupper() and sentence.rstrip("”").endswith((".", "”", '"')), sentence
    assert "Customer's name changed." in said and "Risk: owner-only → chargeback watch." in said


# --------------------------------------------------------------------------- what a change row keeps

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(["", "wait", "owner_only", "x" * 70])
)
_records = st.dictionaries(
    st.sampled_from(["action", "label", "sku", "cost", "note", "name", "email"]), _scalars, max_size=4
)
_values = st.one_of(
    _scalars,
    _records,
    st.lists(_records, max_size=4),
    st.lists(st.sampled_from(["The estimate is weak.", "The page says in stock.", "x" * 200]), max_size=3),
    st.lists(st.one_of(_records, st.sampled_from(["a sentence"])), max_size=3),
)


@given(
    section=st.sampled_from(["order", "options", "supplier", "summary"]),
    field=st.sampled_from([None, "customer", "lines", "updates", "reason"]),
    before=_values,
    after=_values,
)
@hypothesis_settings(max_examples=400, deadline=None)
def test_a_change_row_keeps_what_its_sentences_read(section, field, before, after):
    """The rows keep only ``essence`` of their values (the previous version keeps the rest); what
    the owner reads of them is the same as of both values whole."""
    whole = {"section": section, "field": field, "before": before, "after": after}
    kept_before, kept_after = essence(before, after)
    assert sentences({**whole, "before": kept_before, "after": kept_after}) == sentences(whole)


def test_records_and_lists_of_records_keep_only_what_differs_and_their_keys():
    options_before = [{"action": "wait", "cost": "0.00", "note": "Free."}, {"action": "refund", "cost": "45.00"}]
    options_after = [{"action": "wait", "cost": "0.00", "note": "Free."}, {"action": "cancel", "cost": "45.00"}]
    assert essence(options_before, options_after) == (
        [{"action": "wait"}, {"action": "refund"}],
        [{"action": "wait"}, {"action": "cancel"}],
    )
    ann, sam = (
        {"name": "Ann", "email": "a@example.com", "orders": 2},
        {"name": "Sam", "email": "a@example.com", "orders": 2},
    )
    assert essence(ann, sam) == ({"name": "Ann"}, {"name": "Sam"})
    rows = diff({**content(), "options": options_before}, {**content(), "options": options_after})
    assert rows == [
        {
            "section": "options",
            "field": None,
            "before": essence(options_before, options_after)[0],
            "after": [{"action": "wait"}, {"action": "cancel"}],
        }
    ]
