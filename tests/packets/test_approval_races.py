"""Approving a draft that changed since the page was read: refused with a clear 400 page saying what
the message is now and why, never a 500, never a second send; the soak test relies on this page."""

from __future__ import annotations

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from backorders.models import OrderLine
from packets.models import Message
from packets.notify.cadence import draft_due_messages
from tests import factories
from tests.reliability.traffic import OwnerSession

pytestmark = pytest.mark.django_db

URL = "/cases/messages/{}/approve/"


def _draft():
    line = factories.OrderLineFactory(state=OrderLine.State.BACKORDERED, backordered_at=timezone.now())
    factories.CaseFactory(order=line.order)
    draft_due_messages()
    message = Message.objects.get(order_line=line)
    message.case = line.order.cases.first()
    message.save(update_fields=["case"])
    return line, message


def test_a_draft_the_sweep_cancelled_meanwhile_is_refused_with_the_reason(owner_client, policy):
    line, message = _draft()
    OrderLine.objects.filter(pk=line.pk).update(state=OrderLine.State.ALLOCATED, allocated=line.quantity)
    draft_due_messages()  # the stock arrived: the sweep cancels the now out-of-date update
    message.refresh_from_db()
    assert message.status == "cancelled"

    response = owner_client.post(URL.format(message.pk))

    assert response.status_code == 400
    body = response.content.decode()
    assert OwnerSession.NO_LONGER_A_DRAFT + "cancelled" in body
    assert "the line is no longer waiting" in body and "Reload the page" in body
    message.refresh_from_db()
    assert message.status == "cancelled" and not OrmQ.objects.exists()


def test_approving_twice_is_refused_the_second_time_and_sends_once(
    owner_client, policy, django_capture_on_commit_callbacks
):
    _, message = _draft()
    with django_capture_on_commit_callbacks(execute=True):
        assert owner_client.post(URL.format(message.pk)).status_code == 302
    second = owner_client.post(URL.format(message.pk))
    assert second.status_code == 400
    assert OwnerSession.NO_LONGER_A_DRAFT + "queued" in second.content.decode()
    sends = [q for q in OrmQ.objects.all() if q.func() == "packets.notify.tasks.send_message"]
    assert len(sends) == 1  # the approval also queues its case's refresh
