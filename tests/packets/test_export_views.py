"""Who may export a packet, and what the download looks like."""

import pytest
from django.urls import reverse

from packets.models import AuditEvent
from tests import factories
from tests.packets.contract_content import decided_case, packet_content, pdf_text

pytestmark = pytest.mark.django_db


def _url(case_id: int) -> str:
    return reverse("packets:case-pdf", args=[case_id])


def test_it_sends_anonymous_visitors_to_the_login_page(client):
    for url in [_url(1), reverse("packets:bundle-list"), reverse("packets:bundle-detail", args=[1])]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_it_refuses_an_outsider_and_records_the_refusal(client, outsider, policy):
    packet = factories.PacketFactory(content=packet_content(policy))
    client.force_login(outsider)

    response = client.get(_url(packet.case_id))

    assert response.status_code == 403
    refusal = AuditEvent.objects.get(action="access.refused")
    assert (refusal.actor, refusal.actor_label) == (outsider, "otto")
    assert refusal.data["refused_action"] == "packet.export"
    assert refusal.data["path"] == _url(packet.case_id)
    assert not AuditEvent.objects.filter(action="packet.exported").exists()


def test_it_serves_support_the_decided_packet_as_a_pdf(support_client, owner, support, policy):
    case, _v1, v2, _decision = decided_case(owner=owner, support=support, policy=policy)

    response = support_client.get(_url(case.pk))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'inline; filename="case-{case.pk}-packet-v2.pdf"'
    assert response["Cache-Control"] == "private, no-store"
    assert v2.content_sha256 in pdf_text(response.content)
    assert AuditEvent.objects.get(action="packet.exported").actor == support


def test_it_answers_404_for_a_missing_case_and_409_for_a_case_without_a_packet(owner_client):
    assert owner_client.get(_url(999_999)).status_code == 404
    case = factories.CaseFactory()
    response = owner_client.get(_url(case.pk))
    assert response.status_code == 409
    assert b"no packet yet" in response.content


@pytest.mark.parametrize("rows", [1, 12])
def test_it_renders_the_pdf_in_a_fixed_number_of_queries(owner_client, owner, policy, django_assert_num_queries, rows):
    case = factories.CaseFactory()
    packet = factories.PacketFactory(case=case, policy=policy, content=packet_content(policy))
    factories.DecisionFactory(
        case=case,
        packet=packet,
        status="approved",
        decided_by=owner,
        approved_by=owner,
        approved_at=case.opened_at,
    )
    for n in range(rows):
        factories.MessageFactory(case=case, status="sent", approved_at=case.opened_at, sent_at=case.opened_at)
        AuditEvent.record("case.note", actor=owner, case=case, summary=f"Note {n}")
    # session, user, user's groups (role), the case with its facts, its decisions with people and
    # packet, its approved messages, its audit trail, the latest packet version, the export's audit row
    with django_assert_num_queries(9):
        assert owner_client.get(_url(case.pk)).status_code == 200
