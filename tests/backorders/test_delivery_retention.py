"""Stored deliveries do not grow without bound: strangers' bodies are never kept, and deliveries
done with are pruned after ``WEBHOOK_RETENTION_DAYS``; failed ones wait for a replay or a dismissal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from backorders.models import WebhookDelivery
from backorders.tasks import prune_deliveries
from packets.schedules import SCHEDULES, sync_schedules
from tests.backorders.signed import SOURCES, configure, send

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

Status = WebhookDelivery.Status
MB = 1_000_000


def table_bytes() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size('backorders_webhookdelivery')")
        return cursor.fetchone()[0]


def test_fifty_unsigned_one_megabyte_posts_add_no_bodies_to_the_database(settings):
    configure(settings)
    before = table_bytes()
    visitor = Client(raise_request_exception=False)
    for number in range(50):
        body = b'{"padding": "' + bytes([97 + number % 26]) * (MB - 20) + b'"}'
        assert send(visitor, SOURCES[number % len(SOURCES)], body, signed=False).status_code == 401
    grown = table_bytes() - before
    rows = WebhookDelivery.objects.filter(status=Status.REJECTED)
    assert rows.count() == 50
    assert {bytes(row.body) for row in rows} == {b""} and {row.body_size for row in rows} == {len(body)}
    assert len({row.body_sha256 for row in rows}) == 26  # one hash per distinct body
    assert grown < 512 * 1024, f"the table grew {grown} bytes for 50 rejected posts"


def test_a_signed_but_unreadable_body_is_not_kept_either(settings, client):
    configure(settings)
    response = send(client, "shopify", b"not json at all")
    assert response.status_code == 400
    delivery = WebhookDelivery.objects.get()
    assert (delivery.signature_valid, bytes(delivery.body), delivery.body_size) == (True, b"", 15)


def delivery(status: str, age_days: float) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        source="shopify",
        topic="orders/create",
        body_sha256="0" * 64,
        body=b"{}",
        status=status,
        received_at=timezone.now() - timedelta(days=age_days),
    )


def test_it_prunes_deliveries_done_with_after_the_retention_period_and_keeps_failed_ones(settings):
    settings.WEBHOOK_RETENTION_DAYS = 30
    old = {status: delivery(status, 31) for status in Status.values}
    recent = {status: delivery(status, 29) for status in Status.values}

    pruned = prune_deliveries(batch=2)  # small batches: the loop runs more than once

    kept = set(WebhookDelivery.objects.values_list("pk", flat=True))
    assert pruned == len(WebhookDelivery.PRUNABLE) == 5
    assert {s for s, d in old.items() if d.pk not in kept} == {
        Status.PROCESSED,
        Status.IGNORED,
        Status.DUPLICATE,
        Status.REJECTED,
        Status.DISMISSED,
    }
    assert {s for s, d in old.items() if d.pk in kept} == {
        Status.RECEIVED,
        Status.PROCESSING,
        Status.FAILED,
        Status.WAITING,
    }
    assert all(d.pk in kept for d in recent.values())
    assert prune_deliveries() == 0


def test_the_retention_period_is_a_setting(settings):
    settings.WEBHOOK_RETENTION_DAYS = 7
    eight_days = delivery(Status.PROCESSED, 8)
    six_days = delivery(Status.PROCESSED, 6)
    assert prune_deliveries() == 1
    assert list(WebhookDelivery.objects.values_list("pk", flat=True)) == [six_days.pk]
    assert not WebhookDelivery.objects.filter(pk=eight_days.pk).exists()


def test_pruning_runs_daily_on_a_schedule_declared_in_code():
    from django_q.models import Schedule

    [declared] = [s for s in SCHEDULES if s.name == "intake.prune_deliveries"]
    assert (declared.func, declared.minutes) == ("backorders.tasks.prune_deliveries", 60 * 24)
    sync_schedules()
    schedule = Schedule.objects.get(name="intake.prune_deliveries")
    assert (schedule.func, schedule.minutes, schedule.repeats) == ("backorders.tasks.prune_deliveries", 1440, -1)


def test_staff_dismiss_a_failed_delivery_in_the_admin_and_it_is_then_pruned(client, django_user_model, settings):
    settings.WEBHOOK_RETENTION_DAYS = 30
    failed = delivery(Status.FAILED, 40)
    processed = delivery(Status.PROCESSED, 1)
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    assert prune_deliveries() == 0  # failed: kept until replayed or dismissed

    response = client.post(
        "/admin/backorders/webhookdelivery/",
        {"action": "dismiss_failed", "_selected_action": [failed.pk, processed.pk]},
        follow=True,
    )
    assert "Dismissed 1 failed deliveries" in response.content.decode()
    failed.refresh_from_db()
    processed.refresh_from_db()
    assert failed.status == Status.DISMISSED and "Dismissed by root" in failed.error
    assert processed.status == Status.PROCESSED
    assert prune_deliveries() == 1
    assert not WebhookDelivery.objects.filter(pk=failed.pk).exists()
