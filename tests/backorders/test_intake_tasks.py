"""The worker side of intake: the task by id, inline processing, replay, and the follow-up sweep."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from backorders.models import Order, TaskDebounce, WebhookDelivery
from backorders.tasks import followup_finished, process_delivery, process_received, request_followup
from tests import factories
from tests.backorders.intake_samples import INTAKE_SETTINGS, compact, post_shopify, queued, sample

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

SWEEP = "packets.tasks.run_sweep"


@pytest.fixture(autouse=True)
def intake_settings(settings):
    for name, value in INTAKE_SETTINGS.items():
        setattr(settings, name, value)


def open_order(**changes) -> bytes:
    payload = sample("shopify-orders-create.json")
    payload.update(cancelled_at=None, financial_status="paid", **changes)
    return compact(payload)


def test_it_processes_inline_when_the_queue_runs_sync(client, settings, django_capture_on_commit_callbacks):
    factories.ProductFactory(sku="IPOD2008PINK", on_hand=3)
    with (
        override_settings(Q_CLUSTER={**settings.Q_CLUSTER, "sync": True}),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = post_shopify(client, "orders/create", open_order(), webhook_id="w-1")
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDelivery.Status.PROCESSED and delivery.attempts == 1
    assert Order.objects.get().lines.filter(state="allocated").count() == 2


def test_it_leaves_a_processed_delivery_alone_when_run_again(client):
    post_shopify(client, "orders/create", open_order(), webhook_id="w-1")
    delivery = WebhookDelivery.objects.get()
    assert process_delivery(delivery.pk) == "processed"
    assert process_delivery(delivery.pk) == "processed"
    delivery.refresh_from_db()
    assert delivery.attempts == 1


def test_it_rolls_back_everything_and_records_an_unexpected_error(client, monkeypatch):
    post_shopify(client, "orders/create", open_order(), webhook_id="w-1")
    delivery = WebhookDelivery.objects.get()

    def broken(*args, **kwargs):
        raise RuntimeError("allocation is down")

    # stands in for a bug in a later step: the order written before it must not stay
    monkeypatch.setattr("backorders.intake.orders.reserve_new_lines", broken)
    with pytest.raises(RuntimeError):
        process_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED and "allocation is down" in delivery.error
    assert not Order.objects.exists()


def test_it_keeps_an_unmappable_payload_as_failed_with_its_reason(client):
    payload = sample("shopify-orders-create.json")
    payload["created_at"] = "yesterday"
    post_shopify(client, "orders/create", compact(payload), webhook_id="w-1")
    delivery = WebhookDelivery.objects.get()
    assert process_delivery(delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert "created_at 'yesterday' is not a date and time" in delivery.error
    assert not Order.objects.exists()


def test_it_replays_chosen_deliveries_by_id(client, capsys):
    post_shopify(client, "orders/create", open_order(), webhook_id="w-1")
    delivery = WebhookDelivery.objects.get()
    call_command("replay_webhooks", "--id", str(delivery.pk))
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PROCESSED
    call_command("replay_webhooks", "--id", str(delivery.pk))  # again: the same order, unchanged
    assert Order.objects.count() == 1 and Order.objects.get().lines.count() == 2
    assert "Replayed 1: 1 done, 0 failed" in capsys.readouterr().out


def test_it_refuses_to_replay_without_saying_which(db):
    with pytest.raises(CommandError):
        call_command("replay_webhooks")
    with pytest.raises(CommandError, match="No verified delivery with id 999999"):
        call_command("replay_webhooks", "--id", "999999")


def test_it_catches_up_on_deliveries_whose_enqueue_was_lost(client, time_machine):
    time_machine.move_to("2026-09-03 14:00:00+00:00", tick=False)
    post_shopify(client, "orders/create", open_order(), webhook_id="w-1")
    time_machine.move_to("2026-09-03 14:05:00+00:00", tick=False)
    assert process_received(older_than_seconds=60) == 1
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.PROCESSED


def test_it_enqueues_the_sweep_by_name_after_processing_at_most_once(
    client, settings, django_capture_on_commit_callbacks
):
    settings.INTAKE_FOLLOWUP_TASK = SWEEP
    post_shopify(client, "orders/create", open_order(), webhook_id="w-1")
    post_shopify(client, "orders/create", open_order(id=42, name="#42"), webhook_id="w-2")
    first, second = WebhookDelivery.objects.order_by("pk")
    with django_capture_on_commit_callbacks(execute=True):
        process_delivery(first.pk)
    with django_capture_on_commit_callbacks(execute=True):
        process_delivery(second.pk)
    assert len(queued(SWEEP)) == 1  # the second delivery found one already pending
    # when the run finishes, the mark clears; a delivery processed meanwhile asks for one more run
    with django_capture_on_commit_callbacks(execute=True):
        followup_finished(SimpleNamespace(func=SWEEP, success=True))
    assert len(queued(SWEEP)) == 2
    with django_capture_on_commit_callbacks(execute=True):
        followup_finished(SimpleNamespace(func=SWEEP, success=True))
    assert TaskDebounce.objects.get(task=SWEEP).pending_since is None
    assert len(queued(SWEEP)) == 2


def test_it_enqueues_nothing_when_the_follow_up_is_off(db, settings, django_capture_on_commit_callbacks):
    settings.INTAKE_FOLLOWUP_TASK = ""
    with django_capture_on_commit_callbacks(execute=True):
        assert request_followup() is False
    assert not queued(SWEEP)
