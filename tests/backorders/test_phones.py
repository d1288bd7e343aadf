"""Phone numbers are read into E.164 at intake (the store's country when no code is given); a number
that cannot be read is kept as typed, flagged, and never sent an SMS."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import time_machine
from django.utils import timezone

from backorders.formats.phones import is_e164, read_phone
from backorders.intake.csv_import import run_job
from backorders.models import Customer, ImportJob
from backorders.tasks import process_delivery
from packets.models import Message
from packets.notify.cadence import draft_due_messages
from packets.notify.tasks import send_message
from tests import factories
from tests.backorders.signed import GENERIC_ORDER, configure, send
from tests.backorders.test_csv_imports import first_row, orders_csv
from tests.loopback import loopback_http  # noqa: F401
from tests.packets.test_cadence import T0, waiting_line

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("typed", "country", "stored", "unreadable"),
    [
        ("(555) 555-5555", "US", "+15555555555", False),
        ("555.555.5555", "US", "+15555555555", False),
        ("+44 20 7946 0958", "US", "+442079460958", False),
        ("020 7946 0958", "GB", "+442079460958", False),
        ("020 7946 0958", "US", "020 7946 0958", True),
        ("call me after 5", "US", "call me after 5", True),
        ("555-0100", "US", "555-0100", True),  # no area code: dialable only locally
        ("", "US", "", False),
    ],
)
def test_it_reads_numbers_in_the_store_country(settings, typed, country, stored, unreadable):
    settings.STORE_COUNTRY = country
    reading = read_phone(typed)
    assert (reading.phone, reading.unreadable) == (stored, unreadable)
    assert is_e164(reading.phone) is (not unreadable and bool(stored))


def test_a_webhook_order_stores_the_customers_phone_in_e164(client, settings):
    configure(settings)
    settings.INTAKE_FOLLOWUP_TASK = ""
    customer = {**GENERIC_ORDER["customer"], "phone": "(555) 555-5555"}
    body = {"type": "order", "timestamp": "2026-03-01T10:05:00Z", "data": {**GENERIC_ORDER, "customer": customer}}

    with time_machine.travel(datetime(2026, 3, 1, 10, 5, 30, tzinfo=UTC), tick=False):
        response = send(client, "generic", json.dumps(body).encode())
    assert response.status_code == 200, response.content
    process_delivery(response.json()["delivery"])
    customer = Customer.objects.get(email="ada@example.com")
    assert (customer.phone, customer.phone_unreadable) == ("+15555555555", False)


def test_the_csv_import_reads_phones_and_flags_the_unreadable_one():
    factories.ProductFactory(sku="MUG-RED", on_hand=5)
    content = orders_csv(
        [
            first_row("#2001", "MUG-RED", **{"Email": "ana@example.com", "Phone": "(555) 555-5555"}),
            first_row("#2002", "MUG-RED", **{"Email": "bo@example.com", "Phone": "ask at the front desk"}),
        ]
    )
    job = run_job(ImportJob.objects.create(kind="orders", filename="orders.csv", content=content))
    assert job.status == ImportJob.Status.DONE, job.errors
    phones = dict(Customer.objects.values_list("email", "phone"))
    assert phones == {"ana@example.com": "+15555555555", "bo@example.com": "ask at the front desk"}
    assert list(Customer.objects.filter(phone_unreadable=True).values_list("email", flat=True)) == ["bo@example.com"]


def test_an_unreadable_number_gets_email_even_with_sms_opt_in(policy):
    with time_machine.travel(T0, tick=False):
        flagged = factories.CustomerFactory(
            preferred_channel="sms", sms_opt_in=True, phone="(555) 555-55", phone_unreadable=True
        )
        typed = factories.CustomerFactory(preferred_channel="sms", sms_opt_in=True, phone="(555) 555-5555")
        flagged_line, typed_line = waiting_line(customer=flagged), waiting_line(customer=typed)
        draft_due_messages()
    assert Message.objects.get(order_line=flagged_line).channel == "email"
    assert Message.objects.get(order_line=typed_line).channel == "email", "not E.164: never an SMS"


def test_the_sms_sender_refuses_a_number_not_in_e164(loopback_http, settings):  # noqa: F811
    settings.TWILIO_API_BASE = loopback_http.url
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, settings.TWILIO_FROM = "AC1", "secret", "+15555550000"
    case = factories.CaseFactory()
    message = factories.MessageFactory(
        case=case,
        order=case.order,
        channel="sms",
        to="(555) 555-5555",
        body="Your order is on backorder.",
        status="queued",
        approved_at=timezone.now(),
        queued_at=timezone.now(),
    )

    assert send_message(message.pk).startswith("failed")

    message.refresh_from_db()
    assert message.status == "failed" and "E.164" in message.last_error
    assert loopback_http.requests == [], "nothing reached Twilio"


def test_a_phone_typed_in_the_admin_is_read_the_same_way(client):
    admin = factories.UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    form = {
        "email": "cy@example.com",
        "name": "Cy",
        "phone": "(555) 555-5555",
        "preferred_channel": "email",
        "orders_count": "0",
        "created_at_0": "2026-03-01",
        "created_at_1": "10:00:00",
        "shopify_id": "",
        "woocommerce_id": "",
    }
    response = client.post("/admin/backorders/customer/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    customer = Customer.objects.get(email="cy@example.com")
    assert (customer.phone, customer.phone_unreadable) == ("+15555555555", False)

    change = {**form, "phone": "front desk"}
    response = client.post(f"/admin/backorders/customer/{customer.pk}/change/", change)
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.phone, customer.phone_unreadable) == ("front desk", True)
