"""An escalated case opens one Zendesk ticket, whatever the network does.

Zendesk is a real HTTP server on loopback keeping Zendesk's idempotency rules
(``tests/packets/zendesk_fakes.py``): a retried request with the same ``Idempotency-Key`` and
body gets the first answer back, marked ``x-zendesk-idempotency-lookup: hit``.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from packets import decisions as verbs
from packets.integrations.zendesk import agent_url, open_ticket, retry_due_tickets
from packets.models import AuditEvent, Case, ZendeskTicket
from tests import factories
from tests.packets.zendesk_fakes import TOKEN, zendesk  # noqa: F401
from tests.task_queue import queued_task_names, run_queued_tasks

pytestmark = pytest.mark.django_db


def packet_case(**fields):
    case = factories.CaseFactory(**fields)
    factories.PacketFactory(case=case)
    return case


def escalate(case, user, note="The customer threatens a chargeback; needs a call from the helpdesk."):
    # escalating again on the same packet version says so: it replaces the earlier decision
    earlier = case.decisions.filter(status__in=["proposed", "approved"]).order_by("-decided_at", "-id").first()
    return verbs.decide(case.pk, user, action="escalate", note=note, replaces=earlier and earlier.pk)


@pytest.mark.django_db(transaction=True)
def test_escalating_opens_one_ticket_through_the_worker_and_shows_its_link(zendesk, support, owner_client):  # noqa: F811
    case = packet_case()
    # the store behind this case is not in the test: keep the queued refresh from resolving it
    Case.objects.filter(pk=case.pk).update(dedupe_key=f"escalation-test:case:{case.pk}")

    escalate(case, support)  # support may escalate; the case goes to the owner

    assert queued_task_names() == ["packets.integrations.zendesk.open_ticket", "packets.tasks.refresh_cases"]
    tasks = run_queued_tasks()
    assert all(task["success"] for task in tasks), [task["result"] for task in tasks]
    [request] = [r for r in zendesk.requests if r["method"] == "POST"]
    assert request["headers"]["authorization"] == f"Bearer {TOKEN}"
    ticket = ZendeskTicket.objects.get()
    assert request["headers"]["idempotency-key"] == ticket.idempotency_key
    sent = json.loads(request["body"])["ticket"]
    assert sent["subject"] == f"Escalated: {case.title}" and sent["comment"]["public"] is False
    assert "The customer threatens a chargeback" in sent["comment"]["body"]
    assert f"/cases/{case.pk}/" in sent["comment"]["body"] and sent["external_id"] == f"backorder-desk-case-{case.pk}"
    [made] = zendesk.tickets
    assert (ticket.status, ticket.ticket_id) == ("created", made["id"])
    assert ticket.url == f"{zendesk.base}/agent/tickets/{made['id']}"

    escalate(case, support, note="Escalating again after another angry email.")
    assert "packets.integrations.zendesk.open_ticket" not in queued_task_names(), "the case has its ticket"
    assert len(zendesk.tickets) == 1

    page = owner_client.get(reverse("packets:case-detail", args=[case.pk])).content.decode()
    assert f'href="{ticket.url}"' in page and f"Zendesk ticket #{made['id']}" in page


def test_the_link_is_the_agent_interface_of_the_subdomain(settings):
    settings.ZENDESK_URL = "https://acme.zendesk.com"
    assert agent_url(4001) == "https://acme.zendesk.com/agent/tickets/4001"


def test_a_timeout_after_zendesk_took_the_request_makes_no_second_ticket(zendesk, support):  # noqa: F811
    case = packet_case()
    escalate(case, support)
    ticket = ZendeskTicket.objects.get()
    zendesk.fail_next("hang")

    assert open_ticket(ticket.pk).startswith("retry at")
    ticket.refresh_from_db()
    assert ticket.status == "pending" and "did not answer in time" in ticket.error
    assert len(zendesk.tickets) == 1, "Zendesk made it; our answer was lost"

    with time_machine.travel(ticket.next_attempt_at + timedelta(seconds=1)):
        assert retry_due_tickets() == 1
        assert open_ticket(ticket.pk) == f"created #{zendesk.tickets[0]['id']}"

    first, second = [r for r in zendesk.requests if r["method"] == "POST"]
    assert first["headers"]["idempotency-key"] == second["headers"]["idempotency-key"]
    assert first["body"] == second["body"]
    assert len(zendesk.tickets) == 1
    created = AuditEvent.objects.get(action="zendesk.created")
    assert "from its record of this Idempotency-Key" in created.summary


def test_it_waits_as_long_as_zendesk_asks_on_429_and_retries_a_500(zendesk, support):  # noqa: F811
    case = packet_case()
    escalate(case, support)
    ticket = ZendeskTicket.objects.get()
    zendesk.fail_next("429", retry_after=120)
    zendesk.fail_next("500")
    start = timezone.now()

    with time_machine.travel(start, tick=False):
        assert open_ticket(ticket.pk).startswith("retry at")
    ticket.refresh_from_db()
    assert ticket.next_attempt_at == start + timedelta(seconds=120), "Retry-After, not the 30 s backoff"
    assert "Zendesk answered 429: APIRateLimitExceeded" in ticket.error

    with time_machine.travel(start + timedelta(seconds=121), tick=False):
        assert retry_due_tickets() == 1
        assert open_ticket(ticket.pk).startswith("retry at")  # the 500
    ticket.refresh_from_db()
    assert ticket.next_attempt_at == start + timedelta(seconds=121 + 60)  # second attempt: 30 s doubled

    with time_machine.travel(start + timedelta(seconds=200), tick=False):
        assert retry_due_tickets() == 1
        assert open_ticket(ticket.pk).startswith("created #")
    assert len(zendesk.tickets) == 1 and ZendeskTicket.objects.get().attempts == 3


def test_a_refusal_is_shown_on_the_case_and_escalating_again_sends_the_same_ticket(zendesk, support, owner_client):  # noqa: F811
    case = packet_case()
    escalate(case, support)
    ticket = ZendeskTicket.objects.get()
    zendesk.fail_next("invalid")

    assert open_ticket(ticket.pk).startswith("failed: Zendesk answered 422")
    ticket.refresh_from_db()
    assert ticket.error == (
        "Zendesk answered 422: RecordInvalid; Record validation errors; requester: Requester: Email is not "
        "properly formatted"
    )
    page = owner_client.get(reverse("packets:case-detail", args=[case.pk])).content.decode()
    assert "not opened" in page and "Requester: Email is not properly formatted" in page

    key = ticket.idempotency_key
    escalate(case, support, note="Trying once more")
    ticket.refresh_from_db()
    assert (ticket.status, ticket.idempotency_key, ticket.attempts) == ("pending", key, 0)
    assert open_ticket(ticket.pk).startswith("created #")
    assert len(zendesk.tickets) == 1


def test_a_worker_lost_mid_send_is_taken_over_with_the_same_key(zendesk, support, settings):  # noqa: F811
    case = packet_case()
    escalate(case, support)
    ticket = ZendeskTicket.objects.get()
    zendesk.fail_next("hang")
    assert open_ticket(ticket.pk).startswith("retry at")
    # as if the worker had died after sending: the row stays "sending"
    long_ago = timezone.now() - timedelta(seconds=int(settings.Q_CLUSTER["retry"]) + 1)
    ZendeskTicket.objects.filter(pk=ticket.pk).update(status="sending", sending_started_at=long_ago)

    assert retry_due_tickets() == 1
    assert open_ticket(ticket.pk).startswith("created #")
    assert len(zendesk.tickets) == 1
    assert AuditEvent.objects.filter(action="zendesk.redelivered").exists()


def test_without_zendesk_settings_escalating_says_so_and_sends_nothing(settings, support):
    settings.ZENDESK_URL, settings.ZENDESK_OAUTH_TOKEN = "", ""
    case = packet_case()
    escalate(case, support)
    assert not ZendeskTicket.objects.exists()
    assert AuditEvent.objects.filter(action="zendesk.not_configured", case=case).exists()


def test_only_staff_can_escalate(zendesk, outsider):  # noqa: F811
    case = packet_case()
    with pytest.raises(PermissionDenied):
        escalate(case, outsider)
    assert not ZendeskTicket.objects.exists()


def test_the_connection_test_asks_zendesk_who_the_token_is(zendesk, owner_client):  # noqa: F811
    owner_client.post(reverse("packets:connection-test", args=["zendesk"]))
    event = AuditEvent.objects.get(action="connection.tested")
    assert event.summary == "zendesk: works: Zendesk knows the token's user: desk@example.zendesk.com"
