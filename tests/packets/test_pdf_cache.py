"""Packet PDFs kept by the hash of what they show: served again while nothing changed, never stale."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import time_machine

from packets.audit.export import export_case_pdf
from packets.models import AuditEvent, Packet
from tests import factories
from tests.packets.contract_content import decided_case, packet_content, pdf_text

pytestmark = pytest.mark.django_db

LATER = dt.datetime(2026, 3, 20, 15, 0, tzinfo=dt.UTC)


def kept(cache: str, case) -> list[Path]:
    return sorted((Path(cache) / str(case.pk)).glob("*.pdf"))


def test_an_unchanged_packet_is_served_from_its_kept_file(owner, support, policy, packet_pdf_cache):
    case, *_ = decided_case(owner=owner, support=support, policy=policy)
    with time_machine.travel(LATER, tick=False):
        first, _, _ = export_case_pdf(case.pk, user=owner, via="web")
    with time_machine.travel(LATER + dt.timedelta(hours=3), tick=False):
        second, _, _ = export_case_pdf(case.pk, user=support, via="web")

    # laid out again three hours later, the render time on the page would differ
    assert second == first
    assert "2026-03-20 11:00 EDT" in pdf_text(first)  # the render time, in the store's zone
    [path] = kept(packet_pdf_cache, case)
    assert path.read_bytes() == first
    # every download is still recorded, by whom
    exports = AuditEvent.objects.filter(action="packet.exported", case=case).order_by("at", "id")
    assert [e.actor for e in exports] == [owner, support]


def test_a_change_that_shows_renders_a_new_file_and_drops_the_old(owner, support, policy, packet_pdf_cache):
    case, _v1, v2, _decision = decided_case(owner=owner, support=support, policy=policy)
    with time_machine.travel(LATER, tick=False):
        first, _, _ = export_case_pdf(case.pk, user=owner, via="web")
    [old] = kept(packet_pdf_cache, case)

    # a newer packet version: the page says "(latest v3)" beside the decided v2
    factories.PacketFactory(case=case, version=3, policy=policy, content=packet_content(policy))
    with time_machine.travel(LATER, tick=False):
        second, _, _ = export_case_pdf(case.pk, user=owner, via="web")
    assert second != first and "(latest v3)" in pdf_text(second)
    [new] = kept(packet_pdf_cache, case)
    assert new != old and not old.exists()

    # content altered in the database: the recomputed hash is on the page, so the kept file is not used
    Packet.objects.filter(pk=v2.pk).update(content={**v2.content, "summary": "Edited afterwards."})
    third, _, _ = export_case_pdf(case.pk, user=owner, via="web")
    assert "ALTERED" in pdf_text(third) and "ALTERED" not in pdf_text(second)


def test_without_a_folder_nothing_is_kept(owner, support, policy, settings, packet_pdf_cache):
    settings.PACKET_PDF_CACHE_DIR = ""
    case, *_ = decided_case(owner=owner, support=support, policy=policy)
    pdf, _, _ = export_case_pdf(case.pk, user=owner, via="web")
    assert pdf.startswith(b"%PDF") and not kept(packet_pdf_cache, case)
