"""``case.opened`` and ``case.updated``: emitted by the sweep in bulk and by people's decisions,
each body matching its published schema, at a cost that does not grow with the number of cases.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from backorders.models import OrderLine
from packets import decisions as verbs
from packets.integrations.outbound import emit_many
from packets.models import Case, OutboundDelivery, OutboundSubscription
from packets.sweep import run_sweep
from tests import factories
from tests.packets.test_outbound import SCHEMAS, conforms

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def waiting_store(orders: int) -> list[OrderLine]:
    """``orders`` orders, each with one line waiting on a kettle nobody has."""
    supplier = factories.SupplierFactory(name="Copperline Goods")
    kettle = factories.ProductFactory(sku="KETTLE-2L", title="Copper Kettle", on_hand=0, price=Decimal("129.00"))
    factories.SupplierSourceFactory(supplier=supplier, product=kettle, unit_cost=Decimal("58.00"))
    factories.SupplierUpdateFactory(supplier=supplier, product=kettle, received_at=NOW - timedelta(days=1))
    return [
        factories.OrderLineFactory(
            order=factories.OrderFactory(placed_at=NOW - timedelta(days=1)),
            product=kettle,
            quantity=1,
            state=OrderLine.State.BACKORDERED,
        )
        for _ in range(orders)
    ]


def events(event_type: str) -> list[dict]:
    return [
        d.payload
        for d in OutboundDelivery.objects.filter(event_type=event_type).order_by("id")
        if d.subscription.url.endswith("/all")
    ]


def assert_schema(payload: dict) -> None:
    schema = json.loads((SCHEMAS / f"{payload['type']}.json").read_text())
    assert conforms(payload, schema) == [], payload


def test_emit_many_costs_one_query_without_subscriptions_and_two_with_any(django_assert_num_queries):
    many = [("case.opened", {"id": n}, None) for n in range(20)]  # one INSERT batch on SQLite as well
    with django_assert_num_queries(0):
        assert emit_many([]) == []
    with django_assert_num_queries(1):  # the subscriptions, none of them
        assert emit_many(many) == []

    OutboundSubscription.objects.create(url="http://127.0.0.1:9/all")
    OutboundSubscription.objects.create(url="http://127.0.0.1:9/opened", event_types=["case.opened"])
    OutboundSubscription.objects.create(url="http://127.0.0.1:9/other", event_types=["message.sent"])
    with django_assert_num_queries(2):  # the subscriptions; one INSERT of every delivery
        deliveries = emit_many(many)
    assert len(deliveries) == 40
    assert len({d.event_id for d in deliveries}) == 20, "one webhook-id per event, shared by its subscriptions"


def test_a_burst_beyond_the_enqueue_limit_is_left_to_the_retry_schedule(settings, django_capture_on_commit_callbacks):
    from packets.integrations.outbound import retry_due_deliveries

    settings.OUTBOUND_ENQUEUE_AT_ONCE = 3
    OutboundSubscription.objects.create(url="http://127.0.0.1:9/all")
    with django_capture_on_commit_callbacks() as callbacks:
        emit_many([("case.opened", {"id": n}, None) for n in range(2)])
    assert len(callbacks) == 1
    with django_capture_on_commit_callbacks() as callbacks:
        burst = emit_many([("case.opened", {"id": n}, None) for n in range(4)])
    assert callbacks == [] and all(d.next_attempt_at == NOW for d in burst)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert retry_due_deliveries() == 4
    assert len(callbacks) == 1


def test_the_sweep_reports_opened_resolved_versioned_and_reopened_cases():
    OutboundSubscription.objects.create(url="http://127.0.0.1:9/all")
    line, other = waiting_store(2)

    run_sweep()
    opened = events("case.opened")
    cases = {c.pk: c for c in Case.objects.all()}
    assert sorted(p["data"]["id"] for p in opened) == sorted(cases)
    assert events("case.updated") == []
    for payload in opened:
        assert_schema(payload)
        assert payload["data"]["status"] == cases[payload["data"]["id"]].status

    assert not run_sweep().changed
    assert OutboundDelivery.objects.filter(event_type="case.updated").count() == 0, "nothing changed, nothing sent"

    OrderLine.objects.filter(pk=line.pk).update(allocated=1, state=OrderLine.State.ALLOCATED)
    factories.InboundMessageFactory(order=other.order, customer=other.order.customer, body="Where is my order?")
    run_sweep()
    resolved = Case.objects.get(dedupe_key=f"backorder:order:{line.order_id}")
    versioned = Case.objects.get(dedupe_key=f"backorder:order:{other.order_id}")
    updates = {p["data"]["id"]: p["data"] for p in events("case.updated")}
    assert updates[resolved.pk]["status"] == "resolved" and updates[resolved.pk]["changes"] == ["status"]
    assert updates[versioned.pk]["changes"] == ["packet"] and versioned.packets.count() == 2
    for payload in events("case.updated"):
        assert_schema(payload)

    OrderLine.objects.filter(pk=line.pk).update(allocated=0, state=OrderLine.State.BACKORDERED)
    run_sweep()
    reopened = [p["data"] for p in events("case.updated") if p["data"]["id"] == resolved.pk][-1]
    assert reopened["status"] == "open" and "status" in reopened["changes"]


def sweep_twice(orders: int) -> tuple[int, int]:
    """Queries of a first run over ``orders`` waiting orders, and of a run that resolves them all."""
    with transaction.atomic():
        lines = waiting_store(orders)
        with CaptureQueriesContext(connection) as first:
            run_sweep()
        OrderLine.objects.filter(pk__in=[line.pk for line in lines]).update(allocated=1, state="allocated")
        with CaptureQueriesContext(connection) as second:
            run_sweep()
        inserts = [q for q in first.captured_queries if 'INSERT INTO "packets_outbounddelivery"' in q["sql"]]
        assert len(inserts) == 1
        assert OutboundDelivery.objects.filter(event_type="case.opened").count() == orders + 1  # + the stockout
        assert OutboundDelivery.objects.filter(event_type="case.updated").count() == orders + 1
        transaction.set_rollback(True)
    return len(first.captured_queries), len(second.captured_queries)


@pytest.mark.postgres  # the sweep's statements are PostgreSQL's; the count is pinned there
def test_the_sweep_emits_in_the_same_number_of_queries_for_three_cases_or_thirty():
    OutboundSubscription.objects.create(url="http://127.0.0.1:9/all")
    assert sweep_twice(3) == sweep_twice(30)


def test_decisions_report_the_case_with_what_changed(owner, support):
    OutboundSubscription.objects.create(url="http://127.0.0.1:9/all")
    case = factories.CaseFactory()
    factories.PacketFactory(case=case)

    proposal = verbs.decide(case.pk, support, action="refund", note="Asked twice")
    verbs.reject_decision(proposal.pk, owner, "Not yet")
    first = verbs.decide(case.pk, owner, action="chase_supplier", note="Ask Copperline for a date")
    verbs.decide(case.pk, owner, action="chase_supplier", note="Again", replaces=first.pk)

    updates = [p["data"] for p in events("case.updated")]
    assert [(u["status"], u["changes"]) for u in updates] == [
        ("awaiting_owner", ["decision", "status"]),  # support proposed a refund
        ("open", ["decision", "status"]),  # the owner turned it down
        ("actioned", ["decision", "status"]),
        ("actioned", ["decision"]),  # a second decision that left the status where it was
    ]
    assert [p["type"] for p in events("decision.approved")] == ["decision.approved"] * 2
    for payload in events("case.updated"):
        assert_schema(payload)
