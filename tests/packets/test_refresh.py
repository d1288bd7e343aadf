"""What a person or the customer does to a case refreshes that case's packet at once.

The facts are a real store in the test database (an order waiting on a kettle the supplier is out
of). The refresh is the django-q2 task the verbs queue after commit; the queue runs it inline here
(``sync``), as a worker would run it as soon as it is free. No scheduled sweep runs after the act.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import Client
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from backorders.models import OrderLine
from packets import decisions as verbs
from packets.models import Case
from packets.notify.links import customer_path
from packets.notify.messaging import approve_message
from packets.sweep import run_sweep
from packets.sweep.refresh import refresh_case
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def queue_inline(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}


@pytest.fixture
def store(policy):
    supplier = factories.SupplierFactory(name="Copperline Goods")
    kettle = factories.ProductFactory(sku="KETTLE-2L", title="Copper Kettle", on_hand=0, price=Decimal("129.00"))
    factories.SupplierSourceFactory(supplier=supplier, product=kettle, unit_cost=Decimal("58.00"))
    factories.SupplierUpdateFactory(supplier=supplier, product=kettle, received_at=NOW - timedelta(days=1))
    order = factories.OrderFactory(placed_at=NOW - timedelta(days=3), promised_ship_by=(NOW - timedelta(days=1)).date())
    factories.OrderLineFactory(order=order, product=kettle, quantity=1, state=OrderLine.State.BACKORDERED)
    run_sweep()
    case = Case.objects.get(dedupe_key=f"backorder:order:{order.pk}")
    assert case.recommended_action == "message_customer"  # the promise has passed: an update is owed
    return {"order": order, "case": case}


def test_a_customer_cancel_on_their_page_refreshes_the_case_at_once(
    store, queue_inline, django_capture_on_commit_callbacks
):
    order, case = store["order"], store["case"]
    client = Client(enforce_csrf_checks=True)
    path = customer_path(order)
    token = client.get(path).cookies["csrftoken"].value

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{path}cancel/", {"csrfmiddlewaretoken": token}).status_code == 200

    case.refresh_from_db()
    packet = case.latest_packet
    assert packet.version == 2 and "cancel" in packet.content["customer_risk"]["intents"]
    assert case.recommended_action == "cancel" and packet.recommendation == "cancel"


def test_a_decision_refreshes_the_case_and_leaves_it_decided_when_nothing_changed(
    store, queue_inline, owner, django_capture_on_commit_callbacks
):
    case = store["case"]
    with django_capture_on_commit_callbacks(execute=True):
        verbs.decide(case.pk, owner, action="chase_supplier", note="Asked Copperline for a date")
    case.refresh_from_db()
    assert case.status == "actioned" and case.latest_packet.version == 1


def test_an_outcome_refreshes_the_case_with_the_facts_of_the_moment(
    store, queue_inline, support, django_capture_on_commit_callbacks
):
    case = store["case"]
    factories.InboundMessageFactory(order=store["order"], customer=store["order"].customer, body="This is a scam.")
    with django_capture_on_commit_callbacks(execute=True):
        verbs.record_outcome(case.pk, support, kind="customer_updated", note="Phoned her")
    case.refresh_from_db()
    assert (case.risk_level, case.status, case.latest_packet.version) == ("chargeback_watch", "awaiting_owner", 2)


def test_approving_a_message_refreshes_its_case(store, queue_inline, owner, django_capture_on_commit_callbacks):
    case = store["case"]
    draft = factories.MessageFactory(case=case, order=store["order"], step="update_48h")
    factories.InboundMessageFactory(order=store["order"], customer=store["order"].customer, body="Please cancel it.")
    with django_capture_on_commit_callbacks(execute=True):
        approve_message(draft.pk, owner)
    case.refresh_from_db()
    assert case.recommended_action == "cancel" and case.latest_packet.version == 2


def test_a_refresh_touches_only_its_own_case(store, policy):
    other = factories.OrderFactory(placed_at=NOW - timedelta(days=1))
    factories.OrderLineFactory(order=other, product=factories.ProductFactory(on_hand=0), state="backordered")
    case = store["case"]
    factories.InboundMessageFactory(order=store["order"], customer=store["order"].customer, body="Cancel please.")

    refresh_case(case.pk)

    assert not Case.objects.filter(order=other).exists()  # the other order's case waits for the sweep
    assert Case.objects.get(pk=case.pk).recommended_action == "cancel"
    assert run_sweep().opened >= 1  # the full sweep opens it, and agrees with the refreshed case
    assert Case.objects.get(pk=case.pk).latest_packet.version == 2


def test_a_refresh_resolves_a_case_whose_cause_is_gone(store):
    order, case = store["order"], store["case"]
    order.lines.update(state=OrderLine.State.ALLOCATED, allocated=1)
    refresh_case(case.pk)
    case.refresh_from_db()
    assert case.status == "resolved"


def test_bulk_approval_refreshes_its_cases_with_one_task(store, owner, django_capture_on_commit_callbacks):
    other = factories.CaseFactory()
    drafts = [
        factories.MessageFactory(case=case, order=case.order, step="update_48h") for case in (store["case"], other)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        result = verbs.bulk_approve_messages([m.pk for m in drafts], owner)

    assert sorted(result.done) == sorted(m.pk for m in drafts)
    tasks = [SignedPackage.loads(row.payload) for row in OrmQ.objects.order_by("pk")]
    refreshes = [task["args"] for task in tasks if task["func"] == "packets.tasks.refresh_cases"]
    assert refreshes == [(sorted([store["case"].pk, other.pk]),)]  # one task, both cases
    assert [task["func"] for task in tasks].count("packets.notify.tasks.send_message") == 2
