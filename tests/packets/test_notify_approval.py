"""Approval: nothing reaches a customer without it, and a draft that breaks a guideline never does."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django_q.models import OrmQ

from packets.models import AuditEvent, Message
from packets.notify.messaging import approve_message, retry_failed_message
from tests import factories
from tests.task_queue import queued_task_names

pytestmark = pytest.mark.django_db


def test_it_approves_and_enqueues_the_send_after_commit(support, django_capture_on_commit_callbacks):
    message = factories.MessageFactory()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        approve_message(message.pk, support)
        assert not OrmQ.objects.exists()  # nothing leaves before the transaction commits
    for callback in callbacks:
        callback()
    assert queued_task_names() == ["packets.notify.tasks.send_message"]
    message.refresh_from_db()
    assert message.status == "queued" and message.approved_by == support and message.approved_at


def test_it_refuses_a_draft_with_guideline_issues(owner):
    message = factories.MessageFactory(guideline_issues=['It uses the forbidden phrase "guaranteed".'])
    with pytest.raises(ValidationError, match="forbidden phrase"):
        approve_message(message.pk, owner)
    message.refresh_from_db()
    assert message.status == "draft"


def test_it_rechecks_the_text_against_the_current_policy(owner):
    message = factories.MessageFactory(body="Good news, it ships tomorrow.")
    with pytest.raises(ValidationError, match="ships tomorrow"):
        approve_message(message.pk, owner)


def test_it_leaves_vip_and_high_value_drafts_to_the_owner(support, owner):
    message = factories.MessageFactory(needs_owner=True)
    with pytest.raises(PermissionDenied):
        approve_message(message.pk, support)
    approve_message(message.pk, owner)
    message.refresh_from_db()
    assert message.status == "queued"


def test_it_lets_staff_send_a_failed_message_again(support, django_capture_on_commit_callbacks):
    message = factories.MessageFactory(status="failed", approved_at=timezone.now(), attempts=3)
    with django_capture_on_commit_callbacks() as callbacks:
        retry_failed_message(message.pk, support)
    message.refresh_from_db()
    assert message.status == "queued" and message.attempts == 0 and len(callbacks) == 1
    assert AuditEvent.objects.filter(action="message.queued", object_id=str(message.pk)).exists()
    assert Message.objects.filter(status="failed").count() == 0
