"""The printed packet: the version decided on, what it says, and proof it was not altered."""

import re

import pytest
from django.core.management import call_command

from packets.audit.export import export_case_pdf
from packets.models import AuditEvent, Packet
from tests import factories
from tests.packets.contract_content import CONTRACT_KEYS, decided_case, packet_content, pdf_text

pytestmark = pytest.mark.django_db


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_it_prints_the_decided_packet_with_its_approver_hash_and_page_numbers(owner, support, policy):
    case, _v1, v2, _decision = decided_case(owner=owner, support=support, policy=policy)
    # Facts changed after the decision: the packet printed is still the one decided on.
    factories.PacketFactory(case=case, version=3, policy=policy, content=packet_content(policy))

    pdf, _case, printed = export_case_pdf(case.pk, user=owner, via="web")

    assert printed == v2
    text = pdf_text(pdf)
    flat = _squash(text)
    assert "Switch supplier APPROVED" in flat
    assert "Approved by Olivia Owner (olivia), 2026-03-06 11:52 EST" in flat
    assert "Decided by Sam Support (sam), 2026-03-06 11:05 EST" in flat
    assert "Packet v2" in flat and "(latest v3)" in flat
    assert f"Content SHA-256 {v2.content_sha256}" in flat  # the footer
    assert "Content verified" in flat and "ALTERED" not in flat
    pages = int(re.search(r"Page 1 of (\d+)", text).group(1))
    assert pages >= 2 and f"Page {pages} of {pages}" in text
    assert text.count(f"Content SHA-256 {v2.content_sha256}") == pages  # on every page
    # Facts, evidence, options, policy, messages and the audit trail are all there.
    for words in [
        "Order #1042",
        "APR-LIN-SAG-M",
        "Harbor Textiles",
        "2026-03-23 to 2026-04-03 (weak)",
        "The restock date is the supplier's guess",
        "Order from Northwind Linen (backup)",
        "Store policy v1",
        "A supplier silent for 3 business days is chased.",
        "Your Linen Apron order #1042",
        "SENT, ACCEPTED BY THE PROVIDER",  # printed in small capitals
        "Hi Priya, your two aprons now come from our backup workshop",
        "decision.approved",
        "Times are shown in the store's time zone, America/New_York",
    ]:
        assert words in flat, words


def test_it_records_the_export_in_the_audit_trail(owner, support, policy):
    case, _v1, v2, _decision = decided_case(owner=owner, support=support, policy=policy)

    export_case_pdf(case.pk, user=support, via="web")

    event = AuditEvent.objects.filter(action="packet.exported").get()
    assert (event.case, event.actor, event.actor_label) == (case, support, "sam")
    assert event.data == {"version": 2, "sha256": v2.content_sha256, "intact": True, "via": "web"}
    assert event.object_type == "packets.packet" and event.object_id == str(v2.pk)


def test_it_says_altered_loudly_when_the_content_no_longer_matches_its_hash(owner, policy):
    packet = factories.PacketFactory(content=packet_content(policy), policy=policy)
    tampered = {**packet.content, "summary": "Nothing to see here."}
    Packet.objects.filter(pk=packet.pk).update(content=tampered)  # what a direct database edit would do

    pdf, _case, _packet = export_case_pdf(packet.case_id, user=owner, via="web")

    text = pdf_text(pdf)
    flat = _squash(text)
    pages = int(re.search(r"Page 1 of (\d+)", text).group(1))
    assert "ALTERED: this packet's content does not match the SHA-256 recorded" in flat
    assert text.count(f"ALTERED · recorded SHA-256 {packet.content_sha256}") == pages  # every footer
    assert Packet.hash_content(tampered) in flat
    assert AuditEvent.objects.get(action="packet.exported").data["intact"] is False


def test_it_prints_the_latest_packet_when_nothing_is_approved_yet(owner, policy):
    case = factories.CaseFactory()
    factories.PacketFactory(case=case, version=1, policy=policy, content=packet_content(policy))
    factories.PacketFactory(
        case=case, version=2, policy=policy, content=packet_content(policy, summary="Second look: still short.")
    )

    pdf, _case, printed = export_case_pdf(case.pk, user=owner, via="web")

    assert printed.version == 2
    flat = _squash(pdf_text(pdf))
    assert "Second look: still short." in flat
    assert "No decision has been recorded on this case." in flat


def test_it_writes_the_pdf_from_the_command_line(tmp_path, owner, support, policy):
    case, _v1, v2, _decision = decided_case(owner=owner, support=support, policy=policy)
    target = tmp_path / "packet.pdf"

    call_command("export_packet", str(case.pk), str(target), "--user", "olivia", stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert target.read_bytes().startswith(b"%PDF-")
    assert v2.content_sha256 in pdf_text(target.read_bytes())
    assert AuditEvent.objects.get(action="packet.exported").data["via"] == "command"


def test_it_uses_a_content_helper_that_follows_the_packet_contract(policy):
    content = packet_content(policy)
    assert (
        set(content)
        == CONTRACT_KEYS
        == {
            "summary",
            "case",
            "order",
            "product",
            "supplier",
            "tracking",
            "options",
            "policy",
            "customer_risk",
            "risk_level",
            "recommendation",
            "evidence",
        }
    )
    assert content["policy"]["rules"] == policy.rule_text()
