"""The sweep as a level-triggered reconcile: it opens, versions, resolves and reopens cases from facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django_q.models import Schedule

from backorders.models import OrderLine
from packets import sweep as sweep_module
from packets.decisions import decide
from packets.models import AuditEvent, Case, InboundMessage, Packet
from packets.schedules import sync_schedules
from packets.sweep import run_sweep
from packets.tasks import run_sweep as run_sweep_task
from tests import factories

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)  # Wednesday
CALLS: list = []


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def store(policy):
    """A kettle the supplier says is out of stock, and an order with one line waiting on it."""
    supplier = factories.SupplierFactory(name="Copperline Goods")
    kettle = factories.ProductFactory(sku="KETTLE-2L", title="Copper Kettle", on_hand=0, price=Decimal("129.00"))
    mug = factories.ProductFactory(sku="MUG-RED", title="Mug", on_hand=10, allocated=1)
    factories.SupplierSourceFactory(supplier=supplier, product=kettle, unit_cost=Decimal("58.00"))
    factories.SupplierUpdateFactory(supplier=supplier, product=kettle, received_at=NOW - timedelta(days=1))
    order = factories.OrderFactory(placed_at=NOW - timedelta(days=1), promised_ship_by=(NOW + timedelta(days=5)).date())
    waiting = factories.OrderLineFactory(order=order, product=kettle, quantity=2, state=OrderLine.State.BACKORDERED)
    factories.OrderLineFactory(order=order, product=mug, quantity=1, allocated=1, state=OrderLine.State.ALLOCATED)
    return {"supplier": supplier, "kettle": kettle, "order": order, "line": waiting}


def order_case(store) -> Case:
    return Case.objects.get(dedupe_key=f"backorder:order:{store['order'].pk}")


def test_it_opens_one_backorder_case_per_order_listing_its_lines(store):
    result = run_sweep()
    case = order_case(store)
    assert (case.kind, case.category, case.status) == ("backorder", "supplier_out_of_stock", "open")
    assert case.product == store["kettle"] and case.evidence_strength == "confirmed"
    packet = case.latest_packet
    assert packet.version == 1 and packet.changes == []
    lines = packet.content["order"]["lines"]
    assert [(line["sku"], line["short"]) for line in lines] == [("KETTLE-2L", 2), ("MUG-RED", 0)]
    assert packet.content["supplier"]["name"] == "Copperline Goods"
    assert AuditEvent.objects.filter(case=case, action="case.opened").count() == 1
    product_case = Case.objects.get(dedupe_key=f"stockout:product:{store['kettle'].pk}")
    assert product_case.kind == "stockout" and product_case.recommended_action == "pause_product"
    assert result.opened == Case.objects.count()


def test_a_second_run_changes_nothing(store):
    run_sweep()
    before = list(Case.objects.values_list("id", "updated_at", "risk_level", "status"))
    again = run_sweep()
    assert not again.changed
    assert before == list(Case.objects.values_list("id", "updated_at", "risk_level", "status"))
    assert Packet.objects.count() == Case.objects.count()


def test_it_resolves_a_case_whose_cause_is_gone_with_an_audit_row(store):
    run_sweep()
    OrderLine.objects.filter(pk=store["line"].pk).update(allocated=2, state=OrderLine.State.ALLOCATED)
    result = run_sweep()
    case = order_case(store)
    assert case.status == "resolved" and case.resolved_at == NOW
    assert case.resolution.startswith("Cause gone:")
    event = AuditEvent.objects.get(case=case, action="case.status")
    assert event.data == {"old": "open", "new": "resolved"} and event.actor_label == "system"
    assert result.resolved >= 1 and case.packets.count() == 1


def test_a_changed_fact_makes_a_new_packet_version_listing_what_changed(store):
    run_sweep()
    factories.SupplierUpdateFactory(
        supplier=store["supplier"],
        product=store["kettle"],
        kind="restock_estimate",
        stock_status="out_of_stock",
        strength="weak",
        restock_from=(NOW + timedelta(days=10)).date(),
        restock_to=(NOW + timedelta(days=20)).date(),
        received_at=NOW - timedelta(hours=1),
    )
    run_sweep()
    case = order_case(store)
    assert case.category == "restock_delay" and case.evidence_strength == "weak"
    latest = case.latest_packet
    assert latest.version == 2
    changed = {(c["section"], c["field"]) for c in latest.changes}
    assert ("case", "category") in changed and ("evidence", "strength") in changed
    assert ("supplier", "restock_estimate") in changed
    assert not run_sweep().changed


def test_a_clock_that_ticks_makes_no_new_version(store, frozen):
    shipment = factories.ShipmentFactory(status="in_transit", label_created_at=NOW - timedelta(days=9))
    factories.TrackingEventFactory(shipment=shipment, status="accepted", occurred_at=NOW - timedelta(days=8))
    factories.TrackingEventFactory(shipment=shipment, status="in_transit", occurred_at=NOW - timedelta(days=7))
    run_sweep()
    case = Case.objects.get(dedupe_key=f"tracking:shipment:{shipment.pk}")
    assert case.category == "stale_in_transit"
    frozen.shift(timedelta(days=1))
    run_sweep()
    assert case.packets.count() == 1, "the tracking age moved, the facts did not"


def test_it_reopens_a_case_whose_cause_comes_back_with_an_audit_row(store):
    run_sweep()
    OrderLine.objects.filter(pk=store["line"].pk).update(allocated=2, state=OrderLine.State.ALLOCATED)
    run_sweep()
    OrderLine.objects.filter(pk=store["line"].pk).update(allocated=0, state=OrderLine.State.BACKORDERED)
    result = run_sweep()
    case = order_case(store)
    assert result.reopened >= 1 and case.status == "open" and case.resolved_at is None
    reopened = AuditEvent.objects.filter(case=case, action="case.status", data__new="open").get()
    assert "Reopened by the sweep" in reopened.summary
    assert Case.objects.filter(dedupe_key=case.dedupe_key).count() == 1


def test_a_case_the_owner_resolved_stays_resolved_until_its_facts_change(store, owner):
    run_sweep()
    case = order_case(store)
    case.set_status(Case.Status.RESOLVED, actor=owner, reason="Called the customer; they will wait.")
    assert not run_sweep().changed
    case.refresh_from_db()
    assert case.status == "resolved"
    factories.InboundMessageFactory(order=store["order"], customer=store["order"].customer, body="Where is my order?")
    run_sweep()
    case.refresh_from_db()
    assert case.status == "open"
    event = AuditEvent.objects.filter(case=case, data__new="open").get()
    assert "facts changed" in event.summary
    assert case.latest_packet.version == 2


def test_a_threatening_message_is_scored_linked_and_escalates_the_case_to_the_owner(store):
    run_sweep()
    message = factories.InboundMessageFactory(
        order=store["order"], customer=store["order"].customer, body="Ship it by Friday or I file a chargeback."
    )
    result = run_sweep()
    message.refresh_from_db()
    case = order_case(store)
    assert message.sentiment is not None and "chargeback" in message.intents and message.escalated
    assert message.case == case and result.scored == 1 and result.linked == 1
    assert (case.risk_level, case.risk_rank, case.status) == ("chargeback_watch", 60, "awaiting_owner")
    assert case.recommended_action == "refund"
    assert AuditEvent.objects.filter(case=case, data__new="awaiting_owner").exists()
    packet = case.latest_packet
    assert packet.version == 2 and packet.content["customer_risk"]["urgency"] == "high"
    assert not run_sweep().changed


def test_it_keeps_the_queue_fields_up_to_date(store):
    order = store["order"]
    order.promised_ship_by = NOW.date()
    order.save()
    sent_at = NOW - timedelta(hours=3)
    factories.MessageFactory(
        order=order, status="sent", approved_at=sent_at, sent_at=sent_at, audience="customer", to="a@example.com"
    )
    run_sweep()
    case = order_case(store)
    assert case.promise_at_risk is True
    assert case.customer_silent_since == sent_at
    assert case.recommended_action and case.risk_rank == Case.RISK_RANK[case.risk_level]


def test_a_silent_supplier_with_waiting_orders_gets_one_supplier_case(store):
    store["supplier"].updates.update(received_at=NOW - timedelta(days=10))
    run_sweep()
    case = Case.objects.get(dedupe_key=f"silence:supplier:{store['supplier'].pk}")
    assert case.category == "supplier_silence" and case.supplier == store["supplier"]
    assert case.recommended_action == "chase_supplier"
    assert "Copperline Goods" in case.latest_packet.content["summary"]


def record_call(now):
    CALLS.append(now)


def test_the_after_sweep_hooks_are_called_with_now(store, monkeypatch):
    monkeypatch.setattr(sweep_module, "AFTER_SWEEP", ["tests.packets.test_sweep.record_call"])
    CALLS.clear()
    run_sweep()
    assert CALLS == [NOW]
    assert sweep_module.AFTER_SWEEP is not None


def test_the_command_and_the_task_run_the_sweep(store):
    out = StringIO()
    call_command("sweep", stdout=out)
    assert "opened" in out.getvalue() and Case.objects.exists()
    assert "0 opened" in run_sweep_task()


def test_sync_schedules_creates_the_sweep_schedule_once_and_repairs_it():
    from packets.schedules import SCHEDULES

    names = [declared.name for declared in SCHEDULES]
    assert "packets.sweep" in names and len(set(names)) == len(names)
    assert sync_schedules() == [(name, "created") for name in names]
    assert sync_schedules() == [(name, "unchanged") for name in names]
    assert Schedule.objects.count() == len(names)
    Schedule.objects.filter(name="packets.sweep").update(minutes=60)
    out = StringIO()
    call_command("sync_schedules", stdout=out)
    assert "packets.sweep: updated" in out.getvalue()
    schedule = Schedule.objects.get(name="packets.sweep")
    assert (schedule.func, schedule.minutes, schedule.schedule_type) == ("packets.tasks.run_sweep", 5, "I")


def test_the_weekly_review_first_runs_on_monday_morning_in_the_store_time_zone(settings):
    settings.STORE_TIME_ZONE = "America/New_York"
    sync_schedules()
    # Wednesday 15:00 UTC -> Monday 08:00 EST, 13:00 UTC; the other schedules run at the next tick
    assert Schedule.objects.get(name="review.weekly").next_run == datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    assert Schedule.objects.get(name="packets.sweep").next_run <= NOW + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 11, 23, 12, 59, tzinfo=UTC), datetime(2026, 11, 23, 13, 0, tzinfo=UTC)),  # Mon 07:59 local
        (datetime(2026, 11, 23, 13, 0, tzinfo=UTC), datetime(2026, 11, 30, 13, 0, tzinfo=UTC)),  # Mon 08:00 local
        (datetime(2026, 11, 1, 4, 0, tzinfo=UTC), datetime(2026, 11, 2, 13, 0, tzinfo=UTC)),  # Sun 00:00, DST ends
    ],
)
def test_next_monday_morning(settings, now, expected):
    from packets.schedules import next_monday_morning

    settings.STORE_TIME_ZONE = "America/New_York"
    assert next_monday_morning(now) == expected


@pytest.mark.parametrize(
    "body",
    ["This is a SCAM.", "Fraud. I'm calling my bank.", "I will report you if this does not ship."],
)
def test_fraud_scam_bank_and_report_you_put_the_case_on_chargeback_watch(store, body):
    run_sweep()
    factories.InboundMessageFactory(order=store["order"], customer=store["order"].customer, body=body)
    run_sweep()
    case = order_case(store)
    assert (case.risk_level, case.status) == ("chargeback_watch", "awaiting_owner")
    assert "chargeback" in case.latest_packet.content["customer_risk"]["intents"]


def test_a_request_for_a_call_is_routed_to_support_with_callback_priority(store):
    run_sweep()
    factories.InboundMessageFactory(
        order=store["order"], customer=store["order"].customer, body="Could someone please call me about this order?"
    )
    run_sweep()
    case = order_case(store)
    risk = case.latest_packet.content["customer_risk"]
    assert "callback_requested" in risk["intents"] and risk["urgency"] == "high"
    assert "The customer asks for a phone call." in risk["signals"]
    assert case.recommended_action == "message_customer" and case.status == "open"  # support's, not the owner's
    assert "support calls them back first" in case.latest_packet.recommendation_reason


def test_a_decided_case_stays_out_of_the_queue_until_its_facts_change(store, owner):
    run_sweep()
    case = order_case(store)
    decide(case.pk, owner, action="chase_supplier", note="Emailed Copperline")
    assert not run_sweep().changed
    case.refresh_from_db()
    assert case.status == "actioned"

    factories.InboundMessageFactory(order=store["order"], customer=store["order"].customer, body="Any update?")
    run_sweep()
    case.refresh_from_db()
    assert case.status == "open" and case.latest_packet.version == 2
    event = AuditEvent.objects.filter(case=case, data__new="open").get()
    assert event.summary == "actioned → open. Back in the queue: its facts changed since the decision."


def test_inbound_messages_without_an_order_are_scored_but_not_linked(policy):
    message = factories.InboundMessageFactory(body="My lawyer will be in touch.")
    run_sweep()
    message.refresh_from_db()
    assert message.intents == ["legal_threat"] and message.escalated and message.case is None
    assert InboundMessage.objects.filter(sentiment__isnull=True).count() == 0


@pytest.mark.postgres  # the sweep's "only if unchanged" guard on case rows is PostgreSQL's UPDATE ... FROM
def test_a_person_who_moves_a_case_during_a_run_wins_and_the_next_run_reconciles(store, owner, monkeypatch):
    run_sweep()
    case = order_case(store)
    OrderLine.objects.filter(pk=store["line"].pk).update(allocated=2, state=OrderLine.State.ALLOCATED)
    real_load = sweep_module.load

    def load_then_person_acts(now):
        snap = real_load(now)  # the sweep has read the case as open...
        Case.objects.get(pk=case.pk).set_status(Case.Status.WAITING, actor=owner, reason="Checking with Sam.")
        return snap  # ...and the owner moved it before the sweep writes

    monkeypatch.setattr(sweep_module, "load", load_then_person_acts)
    run_sweep()
    case.refresh_from_db()
    assert case.status == "waiting"
    assert not AuditEvent.objects.filter(case=case, data__new="resolved").exists()
    monkeypatch.setattr(sweep_module, "load", real_load)
    run_sweep()
    case.refresh_from_db()
    assert case.status == "resolved"
    assert AuditEvent.objects.filter(case=case, data__old="waiting", data__new="resolved").count() == 1
