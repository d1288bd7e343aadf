"""Customer messages on a case on chargeback watch, or owner-only, are approved by the owner alone.

A role matrix: each risk level x each person x one draft approved on its own or ticked in the bulk
approval, through the real views (the server decides, whatever the page offered).
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from packets.decisions import routine_drafts
from packets.models import Case, Message
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

RESERVED = [Case.Risk.CHARGEBACK_WATCH, Case.Risk.OWNER_ONLY]
OPEN_TO_STAFF = [Case.Risk.NORMAL_WATCH, Case.Risk.CUSTOMER_UPDATE, Case.Risk.REFUND_RISK]


def draft_on(risk: str) -> Message:
    case = factories.CaseFactory(risk_level=risk, evidence_strength="confirmed")
    factories.PacketFactory(case=case)
    return factories.MessageFactory(case=case, order=case.order, step="update_48h")


def approve(client: Client, message: Message, how: str):
    if how == "single":
        return client.post(reverse("packets:message-approve", args=[message.pk]))
    return client.post(reverse("packets:draft-bulk-approve"), {"message_ids": [message.pk]})


@pytest.mark.parametrize("how", ["single", "bulk"])
@pytest.mark.parametrize("role", ["support", "owner"])
@pytest.mark.parametrize("risk", RESERVED + OPEN_TO_STAFF)
def test_it_lets_only_the_owner_approve_messages_on_reserved_cases(risk, role, how, request):
    user = request.getfixturevalue(role)
    client = Client()
    client.force_login(user)
    message = draft_on(risk)

    response = approve(client, message, how)

    message.refresh_from_db()
    allowed = role == "owner" or risk not in RESERVED
    assert message.status == ("queued" if allowed else "draft")
    if how == "single":
        assert response.status_code == (302 if allowed else 403)
    else:
        assert response.status_code == 302
        if not allowed:
            flashed = [str(m) for m in response.wsgi_request._messages]
            assert flashed == [
                f"Skipped draft {message.pk}: This message needs the owner's approval: the case is "
                f"{Case.Risk(risk).label.lower()}: only the owner approves its messages."
            ]


def test_it_says_on_the_case_and_the_draft_list_who_may_approve(support):
    message = draft_on(Case.Risk.CHARGEBACK_WATCH)
    client = Client()
    client.force_login(support)

    page = client.get(reverse("packets:case-detail", args=[message.case_id])).content.decode()
    assert "Only the owner can approve this draft: the case is chargeback watch" in page
    assert "data-approve-message" not in page
    drafts = client.get(reverse("packets:draft-list")).content.decode()
    assert f'value="{message.pk}" aria-label="Select draft {message.pk}" disabled' in drafts


def test_it_keeps_reserved_cases_out_of_the_routine_drafts():
    reserved = [draft_on(risk) for risk in RESERVED]
    routine = draft_on(Case.Risk.NORMAL_WATCH)

    assert list(routine_drafts()) == [routine]
    assert all(m not in routine_drafts() for m in reserved)
