"""'Changes since the previous packet' reads as sentences: no raw records, lists or field names."""

from __future__ import annotations

import pytest

from packets.audit.changes import sentences
from packets.packet import diff


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
