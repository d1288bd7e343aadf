"""A label is not a shipment: no customer is told a parcel "is on its way" until a carrier scan shows
it moving, on any path (the cadence, the guidelines at approval and at send, the customer page)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from backorders.models import OrderLine
from packets.models import Message
from packets.notify import drafting, guidelines
from packets.notify.cadence import draft_due_messages
from packets.notify.links import customer_path
from packets.notify.messaging import approve_message
from tests import factories

pytestmark = pytest.mark.django_db


def shipped_line(*, scanned: bool):
    now = timezone.now()
    line = factories.OrderLineFactory(
        state=OrderLine.State.SHIPPED,
        backordered_at=now - timedelta(days=10),
        allocated=1,
        shipped=1,
        quantity=1,
        shipped_at=now - timedelta(hours=2),
    )
    shipment = factories.ShipmentFactory(
        order=line.order, status="label_created", label_created_at=now - timedelta(hours=2)
    )
    if scanned:
        shipment.status, shipment.first_scan_at, shipment.last_scan_at = "in_transit", now, now
        shipment.save()
    return line, shipment


def steps_for(line) -> dict[str, str]:
    return dict(Message.objects.filter(order_line=line).values_list("step", "body"))


def test_a_label_alone_gets_being_prepared_never_on_its_way(policy):
    line, shipment = shipped_line(scanned=False)
    draft_due_messages()
    steps = steps_for(line)
    assert list(steps) == [drafting.RESTOCKED]
    assert not guidelines.SHIPPED_WORDS.search(steps[drafting.RESTOCKED])

    # the carrier scans it: now, and only now, the customer hears it is on its way
    shipment.status, shipment.first_scan_at = "in_transit", timezone.now()
    shipment.last_scan_at = shipment.first_scan_at
    shipment.save()
    draft_due_messages()
    steps = steps_for(line)
    assert set(steps) == {drafting.RESTOCKED, drafting.SHIPPED}
    assert "on its way" in steps[drafting.SHIPPED]


def test_a_scanned_parcel_gets_the_shipped_message(policy):
    line, _ = shipped_line(scanned=True)
    draft_due_messages()
    message = Message.objects.get(order_line=line)
    assert message.step == drafting.SHIPPED and message.guideline_issues == []


def test_the_guidelines_refuse_shipped_wording_for_a_label_alone(policy, owner):
    line, _ = shipped_line(scanned=False)
    draft = drafting.render(
        drafting.SHIPPED, line=line, channel="email", policy=policy, today=timezone.now().date(), link=""
    )
    assert guidelines.LABEL_IS_NOT_A_SHIPMENT in draft.issues

    # a hand-written draft saying so is refused at approval, whatever its step
    message = factories.MessageFactory(
        order=line.order, body="Good news: your parcel is on its way!", subject="Your order", step=""
    )
    with pytest.raises(ValidationError, match="a label alone is not a shipment"):
        approve_message(message.pk, owner)
    subject_only = factories.MessageFactory(order=line.order, subject="Order 1 is on its way", step="")
    with pytest.raises(ValidationError, match="a label alone is not a shipment"):
        approve_message(subject_only.pk, owner)


@pytest.mark.parametrize(
    "text",
    ["You can cancel at no cost before it ships.", "We will send tracking when it ships.", "It ships in 1–3 days."],
)
def test_the_guidelines_leave_talk_of_shipping_later_alone(text, policy):
    assert guidelines.LABEL_IS_NOT_A_SHIPMENT not in guidelines.check(text, "email", policy, parcel_moving=False)


def test_the_customer_page_says_shipped_only_after_a_carrier_scan(client):
    line, shipment = shipped_line(scanned=False)
    body = client.get(customer_path(line.order)).content.decode()
    assert "waiting for the carrier to collect it" in body and ">Shipped" not in body.replace("\n", "")
    shipment.status, shipment.first_scan_at = "accepted", timezone.now()
    shipment.last_scan_at = shipment.first_scan_at
    shipment.save()
    body = client.get(customer_path(line.order)).content.decode()
    assert "Shipped" in body and "waiting for the carrier" not in body
