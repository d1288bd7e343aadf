"""On the demo store, one sweep opens a case for every kind of trouble the demo was built with.

The demo is loaded and swept once for the whole module (inside a transaction rolled back at the
end), at a fixed Wednesday, so the business-day clocks give the same answers on any day.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from backorders.models import Product, StorePolicy
from packets.models import AuditEvent, Case, InboundMessage, Packet
from packets.packet import SECTIONS
from packets.seeding.demo import seed_demo
from packets.sweep import run_sweep
from packets.sweep.cases import CaseBuilder
from packets.sweep.load import load
from suppliers.eta import customer_range

NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)  # a Wednesday, 10:00 in the store's New York


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), time_machine.travel(NOW, tick=False), transaction.atomic():
        seed_demo(now=NOW)
        first = run_sweep()
        second = run_sweep()
        yield {"first": first, "second": second}
        transaction.set_rollback(True)


@pytest.fixture(autouse=True)
def frozen(demo, db):
    with time_machine.travel(NOW, tick=False):
        yield


def case_for(**lookup) -> Case:
    return Case.objects.open().get(**lookup)


def test_it_opens_a_case_in_every_category_the_demo_holds(demo):
    found = Counter(Case.objects.open().values_list("kind", "category"))
    expected = {
        ("backorder", "backup_candidate"),  # KETTLE-2L: copperline out, Alpine as backup
        ("backorder", "variant_missing"),  # MUG-SAGE: the glaze is retired
        ("backorder", "discontinued"),  # SHADE-LARGE
        ("backorder", "restock_delay"),  # THROW-RUST (weak estimate), POUROVER (dispatch claim)
        ("backorder", "supplier_out_of_stock"),  # LAMP-BLACK: conflicting reports
        ("backorder", "supplier_silence"),  # KETTLE-15L, SKILLET-12IN: copperline said nothing about them
        ("stockout", "backup_candidate"),
        ("stockout", "variant_missing"),
        ("stockout", "discontinued"),
        ("stockout", "supplier_silence"),  # the supplier case for copperline
        ("stale_tracking", "label_created_only"),
        ("stale_tracking", "accepted_no_movement"),
        ("stale_tracking", "stale_in_transit"),
        ("stale_tracking", "carrier_exception"),
        ("stale_tracking", "delivered_conflict"),
        ("stale_tracking", "wrong_tracking"),
        ("stale_tracking", "expired_tracking"),
        ("stale_tracking", "unclear"),
        ("stale_tracking", "supplier_silence"),  # drop-shipped by Copperline, never picked up
    }
    assert expected <= set(found), expected - set(found)
    assert len({category for _, category in found}) >= 8
    assert demo["first"].opened == Case.objects.count()


def test_it_changes_nothing_on_a_second_run(demo):
    second = demo["second"]
    assert not second.changed and second.open_cases == demo["first"].opened
    assert Packet.objects.count() == Case.objects.count(), "one packet version per case"
    with CaptureQueriesContext(connection) as queries:
        third = run_sweep()
    assert not third.changed
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].split()[0] in {"INSERT", "UPDATE", "DELETE"}]
    assert writes == []


def test_every_case_has_a_packet_with_every_section_of_the_contract(demo):
    for packet in Packet.objects.select_related("case"):
        content = packet.content
        assert set(content) == set(SECTIONS), packet.case.title
        assert set(content["case"]) == {"kind", "category", "category_label", "title", "opened_at"}
        assert content["case"]["category"] == packet.case.category
        assert content["risk_level"] == packet.case.risk_level == packet.risk_level
        assert content["recommendation"]["action"] == packet.recommendation == packet.case.recommended_action
        assert content["evidence"]["strength"] in {"confirmed", "weak", "conflicting", "none"}
        assert content["evidence"]["uncertainty"], "uncertainty is always said, even when it is small"
        assert content["policy"]["version"] == packet.policy.version
        assert set(content["policy"]["rules"]) == set(packet.policy.rule_text())
        assert set(content["customer_risk"]) == {"urgency", "repeat_contact", "intents", "sentiment", "signals"}
        assert content["options"], packet.case.title
        for option in content["options"]:
            assert set(option) == {
                "action",
                "label",
                "cost",
                "margin_impact",
                "shipping_days_difference",
                "quality_risk",
                "needs_customer_consent",
                "needs_owner",
                "notes",
            }
        # what an auditor recomputes from the stored content is what was recorded
        assert packet.content_sha256 == Packet.hash_content(packet.content) and packet.changes == []
        assert packet.facts_sha256 and packet.facts_sha256 != packet.content_sha256
        kind = packet.case.kind
        if kind == "backorder":
            assert content["order"] and content["product"] and content["tracking"] is None
            assert set(content["order"]["customer"]) == {
                "name",
                "email",
                "orders_count",
                "vip",
                "high_value",
                "prior_contacts",
            }
        if kind == "stale_tracking":
            assert content["tracking"] and content["order"]
            assert content["tracking"]["carrier"] and "events" in content["tracking"]


def test_many_orders_on_one_product_make_one_product_case_that_recommends_a_pause(demo):
    kettle = Product.objects.get(sku="KETTLE-2L")
    order_cases = (
        Case.objects.open()
        .filter(kind="backorder", order__lines__product=kettle, order__lines__state__in=["backordered", "partial"])
        .distinct()
    )
    product_case = case_for(dedupe_key=f"stockout:product:{kettle.pk}")
    assert order_cases.count() >= 20
    assert Case.objects.open().filter(kind="stockout", product=kettle).count() == 1
    content = product_case.latest_packet.content
    assert content["product"]["waiting_orders"] == order_cases.count()
    assert product_case.recommended_action == "pause_product"
    assert "wording" in content["recommendation"]["reason"]
    assert any("In stock, ships in 1–2 business days." in line for line in content["evidence"]["uncertainty"])
    switch = [o for o in content["options"] if o["action"] == "switch_supplier"]
    assert switch and switch[0]["needs_customer_consent"] and switch[0]["needs_owner"]
    assert "Stainless handle" in switch[0]["quality_risk"]
    # the product case outranks the quiet order cases waiting on it
    assert order_cases.filter(risk_rank__gt=product_case.risk_rank).count() < order_cases.count() / 2


def test_it_calls_a_weak_estimate_weak_and_names_a_conflict(demo):
    throw = case_for(kind="stockout", product__sku="THROW-RUST")
    estimate = throw.latest_packet.content["supplier"]["restock_estimate"]
    assert estimate["strength"] == "weak"
    assert any("weak" in line for line in throw.latest_packet.content["evidence"]["uncertainty"])
    lamp = case_for(kind="stockout", product__sku="LAMP-BLACK")
    content = lamp.latest_packet.content
    assert lamp.evidence_strength == "conflicting" == content["evidence"]["strength"]
    assert content["supplier"]["conflicts"] and "in stock" in content["supplier"]["conflicts"][0]


def test_it_reads_customer_messages_and_escalates_threats_to_the_owner(demo):
    assert not InboundMessage.objects.filter(sentiment__isnull=True).exists()
    lawyer = InboundMessage.objects.get(body__contains="lawyer")
    assert "legal_threat" in lawyer.intents and lawyer.escalated and lawyer.sentiment < -0.5
    assert lawyer.case is not None and lawyer.case.order_id == lawyer.order_id
    assert lawyer.case.risk_level == "chargeback_watch" and lawyer.case.status == "awaiting_owner"
    conflict = case_for(category="delivered_conflict")
    assert conflict.risk_level == "chargeback_watch"
    assert any("not_received" in m.intents for m in conflict.inbound_messages.all())
    assert AuditEvent.objects.filter(case=conflict, action="case.escalated").exists()
    polite = InboundMessage.objects.filter(body__startswith="Hi, any update").first()
    assert polite.intents == ["where_is_my_order"] and not polite.escalated


def test_it_leaves_parcels_inside_their_windows_alone(demo):
    tracked = set(Case.objects.filter(kind="stale_tracking").values_list("shipment__carrier", flat=True))
    assert "DHL" not in tracked, "the international parcel scanned yesterday is on its way"
    assert Case.objects.filter(kind="stale_tracking").count() == 13


def test_the_sweeps_eta_ranges_match_the_eta_model(demo):
    policy = StorePolicy.objects.current()
    builder = CaseBuilder(load(NOW))
    for product in Product.objects.all():
        expected = customer_range(product, policy=policy)
        mine = builder.verdict(product.pk)[1]
        if expected is None:
            assert mine is None
        else:
            assert mine == expected, product.sku
