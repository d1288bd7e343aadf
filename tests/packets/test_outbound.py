"""Outbound events: signed per Standard Webhooks, retried with backoff, logged per subscription.

The receiver is a real HTTP server on loopback; signatures are checked with the
``standardwebhooks`` library's own ``Webhook.verify``, as a receiver would.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from packets.integrations.outbound import (
    EVENT_TYPES,
    case_payload,
    decision_payload,
    deliver,
    emit,
    message_payload,
    retry_due_deliveries,
    stock_payload,
)
from packets.models import OutboundDelivery, OutboundSubscription
from packets.store_actions.runner import action_payload
from tests import factories
from tests.loopback import loopback_http, loopback_smtp  # noqa: F401

SCHEMAS = Path(settings.BASE_DIR) / "docs" / "events"


def subscribe(url: str, *types: str, **fields) -> OutboundSubscription:
    return OutboundSubscription.objects.create(url=url, event_types=list(types), **fields)


@pytest.mark.django_db
def test_it_writes_deliveries_in_the_callers_transaction_and_sends_after_commit(django_capture_on_commit_callbacks):
    wants = subscribe("http://127.0.0.1:9/a", "message.sent")
    everything = subscribe("http://127.0.0.1:9/b")
    subscribe("http://127.0.0.1:9/c", "case.opened")
    subscribe("http://127.0.0.1:9/d", "message.sent", active=False)

    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        deliveries = emit("message.sent", {"id": 1})
    assert {d.subscription for d in deliveries} == {wants, everything}
    assert len(callbacks) == 1 and deliveries[0].event_id == deliveries[1].event_id

    with transaction.atomic():
        emit("message.sent", {"id": 2})
        transaction.set_rollback(True)
    assert OutboundDelivery.objects.count() == 2  # a rolled-back change sends nothing

    with pytest.raises(ValueError, match="not an event type"):
        emit("order.exploded", {})


@pytest.mark.django_db
def test_it_signs_a_delivery_that_the_standard_webhooks_library_verifies(loopback_http):  # noqa: F811
    subscription = subscribe(loopback_http.url + "/hooks/backorders", "store_action.succeeded")
    [delivery] = emit("store_action.succeeded", {"id": 7, "kind": "cancel"})

    assert deliver(delivery.pk) == "delivered (200)"

    [request] = loopback_http.requests
    assert request.path == "/hooks/backorders"
    payload = Webhook(subscription.secret).verify(request.body, request.headers)
    assert payload["type"] == "store_action.succeeded" and payload["data"] == {"id": 7, "kind": "cancel"}
    assert request.headers["webhook-id"] == delivery.event_id and request.headers["webhook-id"].startswith("msg_")
    with pytest.raises(WebhookVerificationError):
        Webhook(subscription.secret).verify(request.body.replace(b'"id":7', b'"id":8'), request.headers)
    delivery.refresh_from_db()
    subscription.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.response_status == 200
    assert subscription.last_success_at is not None and subscription.secret.startswith("whsec_")


@pytest.mark.django_db
def test_it_retries_with_backoff_under_the_same_webhook_id(loopback_http, django_capture_on_commit_callbacks):  # noqa: F811
    subscription = subscribe(loopback_http.url, "message.failed")
    loopback_http.answer(500, "upstream down")
    [delivery] = emit("message.failed", {"id": 3})
    start = timezone.now()

    with time_machine.travel(start, tick=False):
        assert deliver(delivery.pk).startswith("retry at")
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.next_attempt_at == start + timedelta(seconds=5)
    subscription.refresh_from_db()
    assert "answered 500" in subscription.last_error

    with time_machine.travel(start + timedelta(seconds=6), tick=False):
        with django_capture_on_commit_callbacks() as callbacks:
            assert retry_due_deliveries() == 1
        assert len(callbacks) == 1
        assert deliver(delivery.pk) == "delivered (200)"

    first, second = loopback_http.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert int(second.headers["webhook-timestamp"]) - int(first.headers["webhook-timestamp"]) == 6
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.attempts == 2


@pytest.mark.django_db
def test_it_turns_a_subscription_off_when_the_endpoint_is_gone(loopback_http):  # noqa: F811
    subscription = subscribe(loopback_http.url, "case.opened")
    loopback_http.answer(410, "gone")
    [delivery] = emit("case.opened", {"id": 1})
    assert deliver(delivery.pk) == "failed: 410 Gone, subscription turned off"
    subscription.refresh_from_db()
    assert subscription.active is False


@pytest.mark.django_db
def test_it_gives_up_after_the_last_attempt(settings):
    settings.OUTBOUND_MAX_ATTEMPTS = 1
    subscribe("http://127.0.0.1:9/closed-port", "case.opened")
    [delivery] = emit("case.opened", {"id": 1})
    assert deliver(delivery.pk) == "failed after 1 attempts"
    delivery.refresh_from_db()
    assert delivery.status == "failed" and "No answer from http://127.0.0.1:9/closed-port" in delivery.error
    assert deliver(delivery.pk) == "nothing to do (already sent or being sent)"


# --------------------------------------------------------------------------- the published schemas


def conforms(value, schema, path="$") -> list[str]:
    """The JSON Schema keywords the published schemas use: type, const, enum, properties,
    required, additionalProperties, items."""
    problems = []
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        python = {
            "object": dict,
            "array": list,
            "string": str,
            "integer": int,
            "boolean": bool,
            "null": type(None),
        }
        if not any(isinstance(value, python[k]) and not (k == "integer" and isinstance(value, bool)) for k in kinds):
            return [f"{path}: {value!r} is not {kinds}"]
    if "const" in schema and value != schema["const"]:
        problems.append(f"{path}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                problems.append(f"{path}.{key}: missing")
        for key, item in value.items():
            if key in schema.get("properties", {}):
                problems += conforms(item, schema["properties"][key], f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                problems.append(f"{path}.{key}: not in the schema")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems += conforms(item, schema["items"], f"{path}[{index}]")
    return problems


@pytest.mark.django_db
def test_it_publishes_a_schema_that_every_event_body_matches(owner):
    case = factories.CaseFactory()
    line = factories.OrderLineFactory(order=case.order, allocated=1)
    decision = factories.DecisionFactory(
        case=case, action="refund", status="approved", approved_by=owner, approved_at=timezone.now()
    )
    message = factories.MessageFactory(case=case, status="sent", sent_at=timezone.now(), approved_at=timezone.now())
    action = factories.StoreActionFactory(case=case, decision=decision, order=case.order, status="succeeded")
    bodies = {
        "case.opened": case_payload(case),
        "case.updated": case_payload(case, ["decision", "status"]),
        "decision.approved": decision_payload(decision),
        "message.sent": message_payload(message),
        "message.failed": message_payload(message) | {"status": "failed"},
        "store_action.succeeded": action_payload(action),
        "store_action.failed": action_payload(action) | {"status": "failed"},
        "stock.allocated": stock_payload(line.product, [line]),
    }
    assert sorted(bodies) == sorted(EVENT_TYPES) == sorted(p.name[:-5] for p in SCHEMAS.glob("*.json"))
    subscribe("http://127.0.0.1:9/all")
    for event_type, data in bodies.items():
        [delivery] = emit(event_type, data, case=case)
        schema = json.loads((SCHEMAS / f"{event_type}.json").read_text())
        assert conforms(delivery.payload, schema) == [], event_type


@pytest.mark.django_db
def test_it_emits_message_sent_when_a_message_goes_out(loopback_smtp):  # noqa: F811
    from packets.notify.tasks import send_message

    subscribe("http://127.0.0.1:9/messages", "message.sent", "message.failed")
    case = factories.CaseFactory()
    message = factories.MessageFactory(case=case, status="queued", approved_at=timezone.now())

    send_message(message.pk)

    [delivery] = OutboundDelivery.objects.all()
    assert delivery.event_type == "message.sent" and delivery.case == case
    assert delivery.payload["data"]["id"] == message.pk and "body" not in delivery.payload["data"]
