"""Packet PDFs for audits: which version to print, what the page shows, and bundles of cases.

A case prints the packet version its decision was made on: the latest approved Decision's
packet, else the latest packet. The page carries the stored SHA-256 of that packet's content
and the hash recomputed now; when they differ the document says ALTERED on every page.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from packets.audit import pdf_cache
from packets.audit.pdf import PRINT_STYLESHEET, LockedFetcher, render_html_document, static_bytes
from packets.models import AuditEvent, Case, Decision, ExportJob, Packet
from packets.privacy.erasure import redact_audit_rows, redact_packet_content

PACKET_TEMPLATE = "packets/pdf/packet.html"
# One worker task renders a whole bundle; at well under a second a packet, this many stays
# inside the queue's task timeout (Q_TIMEOUT, 120 s by default).
MAX_BUNDLE_CASES = 100
BUNDLE_TASK = "packets.audit.tasks.render_bundle"


class NothingToExport(Exception):
    """The case has no packet yet, so there is nothing to print."""


class BundleRefused(ValueError):
    """An audit bundle that cannot be made as asked (no case matches, or too many)."""


@dataclass(frozen=True)
class Integrity:
    stored: str
    computed: str

    @property
    def intact(self) -> bool:
        return bool(self.stored) and self.stored == self.computed


def integrity_of(packet: Packet) -> Integrity:
    return Integrity(stored=packet.content_sha256, computed=Packet.hash_content(packet.content))


def case_for_export(case_id: int) -> Case:
    return Case.objects.select_related("order__customer", "product", "shipment", "supplier", "assignee").get(pk=case_id)


def decided_packet(case: Case) -> tuple[Packet, Decision | None, list[Decision]]:
    """The packet to print, the decision that settles it (if any) and the case's decisions.

    The decision shown is the latest approved one; without one, the latest decision of any
    status is shown for what it is (proposed or rejected), beside the latest packet.
    """
    decisions = list(
        case.decisions.select_related("decided_by", "approved_by", "packet__policy").order_by("-decided_at", "-id")
    )
    approved = [d for d in decisions if d.status == Decision.Status.APPROVED]
    approved.sort(key=lambda d: (d.approved_at, d.pk), reverse=True)
    decision = approved[0] if approved else (decisions[0] if decisions else None)
    packet = decision.packet if decision is not None and approved and decision.packet_id else None
    if packet is None:
        packet = case.packets.select_related("policy").order_by("-version").first()
    if packet is None:
        raise NothingToExport(f"Case {case.pk} has no packet yet: the next sweep builds one.")
    return packet, decision, decisions


def packet_context(case: Case, *, now: dt.datetime | None = None) -> dict:
    """Everything the printed packet shows, read in a fixed number of queries.

    The audit trail leaves out the packet's own exports (each is in the audit log): a download
    changes nothing the packet says, so its PDF stays the same and is served from the cache.
    """
    packet, decision, decisions = decided_packet(case)
    content = packet.content if isinstance(packet.content, dict) else {}
    content = redact_packet_content(content, case.order.customer if case.order else None)
    messages = list(
        case.messages.exclude(status="draft")
        .filter(approved_at__isnull=False)
        .select_related("approved_by")
        .order_by("created_at", "id")
    )
    events = case.audit_events.exclude(action="packet.exported").order_by("at", "id")
    audit = redact_audit_rows(list(events), case.order.customer if case.order else None)
    policy_section = content.get("policy") or {}
    rules = policy_section.get("rules") or {}
    applied = list(policy_section.get("applied") or [])
    latest_version = case.packets.order_by("-version").values_list("version", flat=True).first()
    return {
        "case": case,
        "packet": packet,
        "content": content,
        "integrity": integrity_of(packet),
        "decision": decision,
        "decision_approved": decision is not None and decision.status == Decision.Status.APPROVED,
        "decisions": decisions,
        "messages": messages,
        "audit_events": audit,
        "policy_version": policy_section.get("version") or packet.policy.version,
        "rules_applied": [(name, rules.get(name, "")) for name in applied],
        "rules_other": [(name, text) for name, text in rules.items() if name not in applied],
        "latest_version": latest_version,
        "store_zone": settings.STORE_TIME_ZONE,
        "rendered_at": now or timezone.now(),
    }


def render_packet_document(case: Case):
    """Lay out one case's packet; returns (document, context) without recording anything."""
    context = packet_context(case)
    document = render_html_document(render_to_string(PACKET_TEMPLATE, context), fetcher=LockedFetcher(), styled=True)
    return document, context


def packet_pdf(case: Case) -> tuple[bytes, dict]:
    """The case's packet as PDF bytes, from the cache when nothing it shows has changed; and its context."""
    context = packet_context(case)
    page = render_to_string(PACKET_TEMPLATE, {**context, "rendered_at": None})
    key = pdf_cache.digest(page.encode(), static_bytes(PRINT_STYLESHEET))
    pdf = pdf_cache.read(case.pk, key)
    if pdf is None:
        html = render_to_string(PACKET_TEMPLATE, context)
        pdf = render_html_document(html, fetcher=LockedFetcher(), styled=True).write_pdf()
        pdf_cache.write(case.pk, key, pdf)
    return pdf, context


def record_export(case: Case, context: dict, *, user=None, via: str, **data) -> AuditEvent:
    packet: Packet = context["packet"]
    integrity: Integrity = context["integrity"]
    return AuditEvent.record(
        "packet.exported",
        actor=user,
        case=case,
        obj=packet,
        summary=f"Packet v{packet.version} exported as PDF ({via})"
        + ("" if integrity.intact else " — content does NOT match its SHA-256"),
        version=packet.version,
        sha256=integrity.stored,
        intact=integrity.intact,
        via=via,
        **data,
    )


def export_case_pdf(case_id: int, *, user=None, via: str) -> tuple[bytes, Case, Packet]:
    """Render one case's packet to PDF bytes and write the 'packet.exported' audit row."""
    case = case_for_export(case_id)
    pdf, context = packet_pdf(case)
    record_export(case, context, user=user, via=via)
    return pdf, case, context["packet"]


def pdf_filename(case: Case, packet: Packet) -> str:
    return f"case-{case.pk}-packet-v{packet.version}.pdf"


# --------------------------------------------------------------------------- bundle selection


def cases_matching(filters: dict) -> QuerySet[Case]:
    """Cases chosen by kind, category, status and a range of opened_at dates (store days, inclusive)."""
    cases = Case.objects.all()
    for name in ("kind", "category", "status"):
        if filters.get(name):
            cases = cases.filter(**{name: filters[name]})
    zone = zoneinfo.ZoneInfo(settings.STORE_TIME_ZONE)
    if filters.get("opened_from"):
        start = dt.date.fromisoformat(str(filters["opened_from"]))
        cases = cases.filter(opened_at__gte=dt.datetime.combine(start, dt.time.min, tzinfo=zone))
    if filters.get("opened_to"):
        end = dt.date.fromisoformat(str(filters["opened_to"])) + dt.timedelta(days=1)
        cases = cases.filter(opened_at__lt=dt.datetime.combine(end, dt.time.min, tzinfo=zone))
    # Only cases with something to print.
    return cases.filter(packets__isnull=False).distinct().order_by("opened_at", "id")


def start_bundle(*, user, filters: dict, output: str) -> ExportJob:
    """Fix the list of cases, record the request, and queue the render once this commits."""
    with transaction.atomic():
        case_ids = list(cases_matching(filters).values_list("id", flat=True)[: MAX_BUNDLE_CASES + 1])
        if not case_ids:
            raise BundleRefused("No case with a packet matches these filters.")
        if len(case_ids) > MAX_BUNDLE_CASES:
            raise BundleRefused(f"More than {MAX_BUNDLE_CASES} cases match: narrow the filters.")
        job = ExportJob.objects.create(
            created_by=user, filters=filters, output=output, case_ids=case_ids, total=len(case_ids)
        )
        AuditEvent.record(
            "export.requested",
            actor=user,
            obj=job,
            summary=f"Audit bundle of {len(case_ids)} case(s) requested ({job.get_output_display().lower()})",
            filters=filters,
            cases=case_ids,
        )
        transaction.on_commit(lambda: _enqueue_bundle(job.pk))
    return job


def _enqueue_bundle(job_id: int) -> None:
    from django_q.tasks import async_task

    async_task(BUNDLE_TASK, job_id, task_name=f"export-bundle-{job_id}")
