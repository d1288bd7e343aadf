"""The customer's order page behind a signed, expiring link: honest ranges and a one-click cancel
request that goes to the owner."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.core import signing
from django.test import Client

from backorders.models import Order
from packets.models import AuditEvent, Case, InboundMessage
from packets.notify.links import SALT, customer_link, customer_links, customer_path
from suppliers.eta import customer_range
from tests import factories

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


@pytest.fixture
def csrf_client():
    return Client(enforce_csrf_checks=True)


def waiting_order(lines: int = 1, *, product=None):
    # the first is #1042; more in one test get numbers of their own (one number is one order)
    number = "#1042" if not Order.objects.filter(number="#1042").exists() else None
    order = factories.OrderFactory(**({"number": number} if number else {}))
    product = product or factories.ProductFactory(title="Blue mug")
    for _ in range(lines):
        factories.OrderLineFactory(order=order, product=product, state="backordered", backordered_at=NOW)
    return order


def test_it_builds_an_absolute_signed_link(settings):
    settings.SITE_URL = "https://desk.example.com"
    order = waiting_order()
    link = customer_link(order)
    assert link.startswith("https://desk.example.com/o/") and link.endswith("/")
    token = link.removeprefix("https://desk.example.com/o/").rstrip("/")
    assert signing.loads(token, salt=SALT) == {"o": order.pk}


def test_links_made_many_at_once_are_the_same_links(settings):
    settings.SITE_URL = "https://desk.example.com"
    orders = [waiting_order() for _ in range(3)]
    with time_machine.travel(NOW, tick=False):
        links = customer_links()
        assert [links(order) for order in orders] == [customer_link(order) for order in orders]
        assert links(orders[0]) is links(orders[0])  # each order's token is signed once


def test_it_shows_the_order_and_an_honest_range_without_a_login(client):
    with time_machine.travel(NOW, tick=False):
        order = waiting_order()
        line = order.lines.get()
        source = factories.SupplierSourceFactory(product=line.product, lead_time_days=6)
        po = factories.PurchaseOrderFactory(supplier=source.supplier, quoted_at=date(2026, 3, 16))
        factories.PurchaseOrderLineFactory(purchase_order=po, product=line.product)
        response = client.get(customer_path(order))
        eta = customer_range(line.product)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Order #1042" in body and "Blue mug" in body
    assert eta.start < eta.end
    assert f"We expect it to ship between {eta.start:%B} {eta.start.day} and {eta.end:%B} {eta.end.day}" in body
    assert "Request cancellation" in body


def test_it_says_plainly_when_no_date_is_known(client):
    response = client.get(customer_path(waiting_order()))
    assert "Our supplier has not confirmed a date yet" in response.content.decode()


@pytest.mark.parametrize("lines", [1, 5])
def test_it_shows_the_page_in_a_fixed_number_of_queries(client, django_assert_num_queries, lines):
    order = waiting_order(lines)
    path = customer_path(order)
    # the order with its customer; the current policy; the lines with products; the ETA ranges of
    # all waiting products at once (sources, open purchase orders, supplier evidence, lateness
    # history); the order's inbound messages (a cancel request already made?); its shipments (has a
    # carrier scanned the parcel?); the latest packet of its open case (what choices it offers: none
    # here, so the choices already made are not read)
    with django_assert_num_queries(10):
        assert client.get(path).status_code == 200


def test_it_records_a_cancel_request_and_puts_the_case_before_the_owner(csrf_client):
    order = waiting_order()
    case = factories.CaseFactory(order=order)
    path = customer_path(order)
    page = csrf_client.get(path)
    token = page.cookies["csrftoken"].value

    response = csrf_client.post(f"{path}cancel/", {"csrfmiddlewaretoken": token})

    assert response.status_code == 200
    assert "The store owner will confirm the cancellation and your refund" in response.content.decode()
    inbound = InboundMessage.objects.get(order=order)
    assert inbound.intents == ["cancel"] and inbound.case == case and inbound.customer == order.customer
    case.refresh_from_db()
    assert case.status == Case.Status.AWAITING_OWNER and case.risk_level == Case.Risk.REFUND_RISK
    assert AuditEvent.objects.filter(action="customer.cancel_request", case=case).count() == 1
    assert AuditEvent.objects.filter(action="case.status", case=case).count() == 1
    order.refresh_from_db()
    assert order.status == "open"  # the owner confirms; nothing is cancelled or refunded here

    again = csrf_client.post(f"{path}cancel/", {"csrfmiddlewaretoken": token})
    assert again.status_code == 200
    assert InboundMessage.objects.filter(order=order).count() == 1
    assert AuditEvent.objects.filter(action="customer.cancel_request").count() == 1
    assert "Request cancellation" not in csrf_client.get(path).content.decode()


def test_it_opens_a_case_when_the_order_has_none(client):
    order = waiting_order()
    client.post(f"{customer_path(order)}cancel/")
    case = Case.objects.get(order=order)
    assert case.status == Case.Status.AWAITING_OWNER and case.dedupe_key == f"cancel-request:order:{order.pk}"


def test_it_refuses_a_cancel_request_without_the_csrf_token(csrf_client):
    order = waiting_order()
    assert csrf_client.post(f"{customer_path(order)}cancel/").status_code == 403
    assert not InboundMessage.objects.exists()


def test_it_refuses_a_cancel_request_for_a_closed_order(client):
    order = factories.OrderFactory(status="fulfilled")
    response = client.post(f"{customer_path(order)}cancel/")
    assert response.status_code == 409 and "can no longer be cancelled" in response.content.decode()


def test_it_only_accepts_post_for_the_cancel_request(client):
    assert client.get(f"{customer_path(waiting_order())}cancel/").status_code == 405


@pytest.mark.parametrize(
    ("tamper", "status", "text"),
    [
        (lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"), 400, "This link is not valid"),
        (lambda token: signing.dumps({"o": 999_999}, salt="another-salt"), 400, "This link is not valid"),
        (lambda token: "not-a-token", 400, "This link is not valid"),
        (lambda token: signing.dumps({"o": 999_999}, salt=SALT), 404, "We cannot find this order"),
        (lambda token: signing.dumps("just text", salt=SALT), 400, "This link is not valid"),
    ],
    ids=["altered signature", "other salt", "garbage", "unknown order", "wrong payload"],
)
def test_it_answers_a_bad_link_with_a_clear_page(client, tamper, status, text):
    order = waiting_order()
    token = customer_path(order).split("/")[2]
    response = client.get(f"/o/{tamper(token)}/")
    assert response.status_code == status
    assert text in response.content.decode()
    assert client.post(f"/o/{tamper(token)}/cancel/").status_code == status
    assert not InboundMessage.objects.exists()


def test_it_answers_an_expired_link_with_410(client, settings):
    settings.CUSTOMER_LINK_MAX_AGE_DAYS = 60
    with time_machine.travel(NOW, tick=False) as clock:
        order = waiting_order()
        path = customer_path(order)
        clock.shift(timedelta(days=59))
        assert client.get(path).status_code == 200
        clock.shift(timedelta(days=2))
        response = client.get(path)
    assert response.status_code == 410
    assert "This link has expired" in response.content.decode()


def case_offering_a_replacement(order):
    from tests.packets.packet_content import contract_content

    case = factories.CaseFactory(order=order, status=Case.Status.WAITING)
    factories.PacketFactory(case=case, content=contract_content())  # offers "the Blue mug instead"
    return case


def test_it_shows_the_store_name_and_the_choices_the_packet_allows(client, settings):
    settings.STORE_NAME = "Sage & Clay"
    order = waiting_order()
    case_offering_a_replacement(order)
    body = client.get(customer_path(order)).content.decode()
    assert "Sage &amp; Clay" in body
    assert 'data-choice="keep_waiting"' in body
    assert "Take a replacement:</strong> Offer the Blue mug instead" in body
    assert 'data-choice="cancel"' in body

    bare = waiting_order()
    factories.PacketFactory(case=factories.CaseFactory(order=bare), content={"options": []})
    body = client.get(customer_path(bare)).content.decode()
    assert 'data-choice="keep_waiting"' in body and 'data-choice="accept_replacement"' not in body


def test_keeping_waiting_puts_the_case_back_in_the_queue_and_refreshes_it(
    csrf_client, owner, django_capture_on_commit_callbacks
):
    order = waiting_order()
    case = case_offering_a_replacement(order)
    path = customer_path(order)
    token = csrf_client.get(path).cookies["csrftoken"].value

    with django_capture_on_commit_callbacks() as callbacks:
        response = csrf_client.post(f"{path}choose/", {"csrfmiddlewaretoken": token, "choice": "keep_waiting"})

    assert response.status_code == 200
    assert "Thank you for waiting" in response.content.decode()
    inbound = InboundMessage.objects.get(order=order)
    assert inbound.intents == ["keep_waiting"] and inbound.case == case
    case.refresh_from_db()
    assert case.status == Case.Status.OPEN
    assert AuditEvent.objects.filter(action="customer.choice", case=case).count() == 1
    assert callbacks, "the case is refreshed once the choice commits"
    csrf_client.post(f"{path}choose/", {"csrfmiddlewaretoken": token, "choice": "keep_waiting"})
    assert InboundMessage.objects.filter(order=order).count() == 1

    queue = Client()
    queue.force_login(owner)
    assert f'data-case-id="{case.pk}"' in queue.get("/cases/").content.decode()


def test_taking_the_replacement_goes_to_the_owner_and_changes_nothing_else(csrf_client):
    order = waiting_order()
    case = case_offering_a_replacement(order)
    path = customer_path(order)
    token = csrf_client.get(path).cookies["csrftoken"].value

    response = csrf_client.post(f"{path}choose/", {"csrfmiddlewaretoken": token, "choice": "accept_replacement"})

    assert response.status_code == 200
    case.refresh_from_db()
    assert case.status == Case.Status.AWAITING_OWNER
    inbound = InboundMessage.objects.get(order=order)
    assert inbound.intents == ["accept_replacement"] and inbound.escalated
    assert "Offer the Blue mug instead" in inbound.body
    order.refresh_from_db()
    assert order.status == "open"


def test_a_choice_the_packet_does_not_offer_is_refused_plainly(csrf_client):
    order = waiting_order()
    factories.PacketFactory(case=factories.CaseFactory(order=order), content={"options": []})
    path = customer_path(order)
    token = csrf_client.get(path).cookies["csrftoken"].value
    for choice in ("accept_replacement", "teleport"):
        response = csrf_client.post(f"{path}choose/", {"csrfmiddlewaretoken": token, "choice": choice})
        assert response.status_code == 409
        assert "This choice is not available" in response.content.decode()
    assert not InboundMessage.objects.filter(order=order).exists()
