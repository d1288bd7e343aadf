"""Approval: nothing reaches a customer without it, and a draft that breaks a guideline never does."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ

from packets.decisions import bulk_approve_messages
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


# --------------------------------------------------------------------------- a channel that is not set up


@pytest.fixture
def sms_gone(settings):
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = settings.TWILIO_FROM = ""


def sms_draft() -> Message:
    case = factories.CaseFactory()
    factories.PacketFactory(case=case)
    return factories.MessageFactory(
        case=case, order=case.order, channel="sms", to="+15555550123", body="Order #1001 waits on stock."
    )


def test_it_refuses_a_draft_whose_channel_is_not_set_up(owner, sms_gone):
    message = sms_draft()
    with pytest.raises(ValidationError, match=r"SMS is not set up \(missing TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN"):
        approve_message(message.pk, owner)
    message.refresh_from_db()
    assert message.status == "draft" and not OrmQ.objects.exists()


def test_bulk_approval_skips_a_draft_whose_channel_is_not_set_up(owner, sms_gone):
    message = sms_draft()
    result = bulk_approve_messages([message.pk], owner)
    assert result.done == [] and "Cannot be sent: SMS is not set up" in result.skipped[0][1]


def test_it_refuses_to_send_a_failed_message_again_while_its_channel_is_not_set_up(owner, sms_gone):
    message = sms_draft()
    Message.objects.filter(pk=message.pk).update(status="failed", approved_at=timezone.now())
    with pytest.raises(ValidationError, match="SMS is not set up"):
        retry_failed_message(message.pk, owner)


def test_the_case_page_and_the_draft_list_say_the_channel_is_not_set_up(owner_client, sms_gone):
    message = sms_draft()
    page = owner_client.get(reverse("packets:case-detail", args=[message.case_id])).content.decode()
    assert "Cannot be sent: SMS is not set up (missing TWILIO_ACCOUNT_SID" in page
    assert "data-approve-message" not in page
    drafts = owner_client.get(reverse("packets:draft-list")).content.decode()
    assert f'value="{message.pk}" aria-label="Select draft {message.pk}" disabled' in drafts
    assert "cannot be sent: SMS is not set up" in drafts

    response = owner_client.post(reverse("packets:message-approve", args=[message.pk]))
    assert response.status_code == 400 and "Cannot be sent: SMS is not set up" in response.content.decode()
    message.refresh_from_db()
    assert message.status == "draft"
