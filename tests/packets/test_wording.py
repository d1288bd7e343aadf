"""What people read is joined from parts the store, suppliers and carriers wrote: a variant is named
once, a sentence ends with one full stop, a range reads "between X and Y". The helpers that join the
parts hold it, the message guidelines catch a text that breaks it, and no drafted text has it."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.db import transaction

from backorders.formats.text import between, product_name, sentence, typography_issues
from packets.models import Case, Message, Packet
from packets.notify import drafting, guidelines
from packets.seeding.demo import seed_demo
from packets.sweep import run_sweep
from suppliers.eta import EtaRange
from tests import factories

TODAY = date(2026, 12, 1)


@pytest.mark.parametrize(
    ("title", "variant", "named"),
    [
        ("Linen Throw (Rust)", "Rust", "Linen Throw (Rust)"),
        ("Linen Throw - Rust", "rust", "Linen Throw - Rust"),
        ("Brass Desk Lamp", "Brass", "Brass Desk Lamp"),
        ("Linen Throw", "Rust", "Linen Throw (Rust)"),
        ("Tee", "Large / Blue", "Tee (Large / Blue)"),
        ("Trustworthy Mug", "Rust", "Trustworthy Mug (Rust)"),  # a word, not a part of one
        ("Linen Throw", "", "Linen Throw"),
    ],
)
def test_a_product_name_names_its_variant_once(title, variant, named):
    assert product_name(title, variant) == named


@pytest.mark.parametrize(
    ("text", "one_sentence"),
    [
        ("with no purchase order confirmation.", "with no purchase order confirmation."),
        ("not confirmed in writing", "not confirmed in writing."),
        ("'Should be a couple of weeks.'", "'Should be a couple of weeks.'"),
        ("Is it lost?", "Is it lost?"),
        ("confirmation..", "confirmation."),
    ],
)
def test_a_sentence_ends_with_exactly_one_stop(text, one_sentence):
    assert sentence(text) == one_sentence


def test_a_range_reads_between_and():
    assert between("December 17", "December 28") == "between December 17 and December 28"


@pytest.mark.parametrize(
    "text",
    [
        "Linen Throw (Rust) (Rust) is on backorder.",
        "There is no purchase order confirmation.. We will check.",
        "We expect it to ship between December 17 – December 28.",
        "We expect it to ship between December 17 - December 28.",
    ],
)
def test_the_guidelines_refuse_a_text_joined_badly(text, policy):
    issues = guidelines.check(text, "email", policy)
    assert issues and all(issue.startswith("It has ") for issue in issues)


def test_the_guidelines_leave_an_ellipsis_a_link_and_a_span_alone(policy):
    text = "Ships in 1–3 days... see https://shop.example.com/a..b/ for more."
    assert typography_issues(text) == []


@pytest.mark.django_db
def test_no_template_drafts_a_text_joined_badly(policy):
    """Every message step, on both channels, with and without a range, for a product whose title
    already names its variant."""
    product = factories.ProductFactory(title="Linen Throw (Rust)", variant_title="Rust")
    line = factories.OrderLineFactory(product=product, title="", state="backordered")
    shipment = factories.ShipmentFactory(order=line.order)
    eta = EtaRange(start=date(2026, 12, 17), end=date(2026, 12, 28), coverage=0.8, basis="test")
    steps = [s["key"] for s in policy.cadence] + list(drafting.EVENT_STEPS)
    seen = 0
    for step, channel, known, offer, renewed in itertools.product(
        steps, ["email", "sms"], [True, False], [True, False], [True, False]
    ):
        draft = drafting.render(
            step,
            line=line,
            channel=channel,
            policy=policy,
            today=TODAY,
            link="https://desk.example.com/o/token/",
            eta=eta if known else None,
            next_update=date(2026, 12, 8),
            offer_cancel=offer,
            renewed=renewed,
            shipment=shipment if step == drafting.SHIPPED else None,
        )
        assert typography_issues(draft.subject + "\n" + draft.body) == [], (step, channel, draft.body)
        assert "(Rust) (Rust)" not in draft.body
        seen += 1
    assert seen == len(steps) * 16


NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@pytest.mark.django_db(transaction=True)
def test_the_demo_store_shows_no_text_joined_badly():
    """The demo store, swept: every drafted message, case title and packet text."""
    with time_machine.travel(NOW, tick=False), transaction.atomic():
        seed_demo(now=NOW)
        run_sweep()
        texts = [(f"message {m.pk}", f"{m.subject}\n{m.body}") for m in Message.objects.all()]
        texts += [(f"case {c.pk}", c.title) for c in Case.objects.all()]
        for packet in Packet.objects.all():
            texts += [(f"packet {packet.pk}", text) for text in _strings(packet.content)]
        assert Message.objects.filter(audience="customer").exists() and len(texts) > 100
        bad = {where: text for where, text in texts if typography_issues(text)}
        assert bad == {}, json.dumps(bad, indent=1)[:2000]
        transaction.set_rollback(True)
