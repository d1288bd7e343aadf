"""The sweep: a level-triggered reconcile that makes cases and packets match the facts.

Each run reads every relevant fact in a fixed number of queries (``load``), decides in
Python which cases should be open and what their packets say (``cases``, ``parcels``, ``desired``
and the pure ``rules``), and writes the difference set-based (``write``), then emits the outbound
events of what changed (``events``):

- a case whose facts hold and are unchanged is left alone (no update, no packet version);
- a case whose facts changed gets a new packet version listing the changes, and its queue fields;
- a case whose cause is gone is resolved, with an audit row saying why;
- a case the owner resolved is reopened only when its facts changed since; a case the sweep
  resolved is reopened when its cause comes back. Either way an audit row says so: nothing is
  reopened silently;
- a case whose risk rises to owner-only or chargeback watch moves to "awaiting the owner";
- a decided ("actioned") case, out of the default queue, comes back to it (open) when its facts
  change.

A full run (and a refresh) holds the PostgreSQL sweep lock exclusively, so no two of them race;
the incremental runs of ``packets.sweep.changed`` (the five-minute schedule) hold it shared, side
by side, and lock each case they rebuild. ``AFTER_SWEEP`` names functions called with ``now``
once the reconcile is committed.
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from operator import attrgetter

from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.module_loading import import_string

from backorders.bulk import InList, paused_gc
from packets.models import AuditEvent, Case, Packet
from packets.packet import PacketText, diff
from packets.rules.facts import RISK_RANK
from packets.sweep import messages
from packets.sweep.cases import build_desired
from packets.sweep.clock import write_clock
from packets.sweep.desired import Desired
from packets.sweep.dirty import clear_due
from packets.sweep.events import emit_sweep_events
from packets.sweep.load import CASE_FIELDS, Snapshot, load
from packets.sweep.processes import in_processes, processes_for
from packets.sweep.write import insert_rows, update_rows

# Dotted paths of functions called as ``fn(now)`` after each reconcile (customer-message cadence).
# Customer updates due for waiting lines, drafted once the run's cases exist. (Supplier chases
# have their own schedule: what they record is a new fact, which the next sweep then reads.)
AFTER_SWEEP: list[str] = [
    "packets.notify.cadence.draft_due_messages",
    "packets.notify.tracking_updates.draft_tracking_updates",  # stale parcels: what we know and do
    "packets.notify.deadlines.mark_overdue",
    "packets.store_actions.selling.propose_resumes",  # supply back: resume selling, remove our wording
    "packets.integrations.slack.alerts.post_owner_alerts",  # after the deadlines: overdue cases count
]

SWEEP_RESOLUTION_PREFIX = "Cause gone: "
PACKET_CHUNK = 2000  # packet versions written per statement
LOCK_KEY = 0x5EE9  # pg_advisory_xact_lock key shared by every sweep run
OWNER_RANK = RISK_RANK[Case.Risk.OWNER_ONLY]
QUEUE_FIELDS = [
    "category",
    "title",
    "risk_level",
    "risk_rank",
    "order_id",
    "product_id",
    "shipment_id",
    "supplier_id",
    "promise_at_risk",
    "customer_silent_since",
    "order_total",
    "order_promised_ship_by",
    "recommended_action",
    "evidence_strength",
]
UPDATE_FIELDS = ["status", "resolved_at", "resolution", *QUEUE_FIELDS, "updated_at"]
GONE = {
    "backorder": "no line of the order waits on stock any more.",
    "stockout": "the product is back above its thresholds with no supplier problem.",
    "tracking": "the shipment is moving again, delivered or no longer open.",
    "silence": "the supplier answered, or no order waits on them any more.",
}


@dataclass
class SweepResult:
    opened: int = 0
    reopened: int = 0
    updated: int = 0
    resolved: int = 0
    escalated: int = 0
    packets: int = 0
    scored: int = 0
    linked: int = 0
    open_cases: int = 0
    seconds: float = 0.0
    claimed: list[str] = field(default_factory=list)  # dirty keys an incremental run took
    rebuilt: int = 0  # cases an incremental run rebuilt
    more: bool = False  # an incremental batch came back full: more keys may be due
    read_s: float = 0.0  # of ``seconds``, taking the lock and reading the facts
    processes: int = 1  # a full run split across processes: how many
    part_peak_mb: float = 0.0  # and the largest peak memory of one of them (MB)

    def add(self, other: SweepResult) -> None:
        for name in ("opened", "reopened", "updated", "resolved", "escalated", "packets", "scored", "linked"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.open_cases += other.open_cases
        self.claimed += other.claimed
        self.rebuilt += other.rebuilt

    @property
    def changed(self) -> bool:
        return any([self.opened, self.reopened, self.updated, self.resolved, self.packets, self.scored, self.linked])

    def __str__(self) -> str:
        return (
            f"{self.open_cases} open cases: {self.opened} opened, {self.reopened} reopened, {self.updated} updated, "
            f"{self.resolved} resolved, {self.escalated} escalated; {self.packets} packet versions; "
            f"{self.scored} messages scored, {self.linked} linked; {self.seconds:.2f}s"
            + (f" ({self.read_s:.2f}s reading the facts)" if self.read_s else "")
            + (f"; {len(self.claimed)} dirty keys, {self.rebuilt} cases rebuilt" if self.claimed else "")
            + (f"; in {self.processes} processes" if self.processes > 1 else "")
        )


@paused_gc()  # the snapshot of a large store is hundreds of thousands of live objects
def run_sweep(now: datetime | None = None, *, only: Iterable[str] | None = None, hooks: bool = True) -> SweepResult:
    """Reconcile cases and packets with the facts, then call the ``AFTER_SWEEP`` hooks.

    ``only`` (cases' dedupe keys) reconciles those cases, as a full run would, and leaves every
    other case and the hooks to the schedule: what ``packets.sweep.refresh.refresh_cases`` runs after a
    person or the customer acted on them. A full run (no ``only``) also settles every due dirty key
    and sets every case's clock (``packets.sweep.dirty``, ``packets.sweep.clock``); ``hooks=False``
    leaves the hooks to the caller (the scheduled task queues them as a task of their own). A full
    run over ``SWEEP_PARALLEL_FROM`` cases or more builds and writes them in ``SWEEP_PROCESSES``
    processes (``packets.sweep.processes``).
    """
    only = frozenset(only) if only is not None else None
    started = time.monotonic()
    now = now or timezone.now()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        if only is None:
            clear_due(now)
        snap = load(now)
        result = SweepResult(read_s=time.monotonic() - started)
        if only is not None:
            snap.open_cases = {key: row for key, row in snap.open_cases.items() if key in only}
        parts = processes_for(len(snap.open_cases) + len(snap.waiting_by_order)) if only is None else 1
        desired = reconcile(snap, only, result, parts=parts)
        if only is None and result.processes == 1:  # each process sets the clock of its part
            write_clock(snap, desired, None)
    if only is None and hooks:
        run_after_sweep(now)
    result.seconds = time.monotonic() - started
    return result


def reconcile(snap: Snapshot, only: Container[str] | None, result: SweepResult, *, parts: int = 1) -> set[str]:
    """Score, build, write: the cases of ``only`` (or every case) made to match the snapshot; the
    keys of the cases the facts call for. ``parts`` > 1 splits the cases by key into that many
    forked processes, each committing its part (``packets.sweep.processes.in_processes``)."""
    readings = messages.score(snap)
    result.scored = len(readings)
    if parts > 1:
        case_ids: dict[str, int] = {}
        desired_keys: set[str] = set()
        outcomes, result.part_peak_mb = in_processes(partial(_reconcile_part, snap), parts)
        result.processes = parts
        for part_result, part_keys, part_ids in outcomes:
            result.add(part_result)
            desired_keys |= part_keys
            case_ids |= part_ids
    else:
        desired = build_desired(snap, only)
        case_ids = _reconcile(snap, desired, result)
        desired_keys = set(desired)
    result.linked = messages.store(snap, readings, case_ids)
    return desired_keys


class _Part:
    """The case keys of one part of ``parts``: a stable hash of the key picks its part."""

    def __init__(self, index: int, parts: int):
        self.index, self.parts = index, parts

    def __contains__(self, key: str) -> bool:
        return zlib.crc32(key.encode()) % self.parts == self.index


def _reconcile_part(snap: Snapshot, index: int, parts: int) -> tuple[SweepResult, set[str], dict[str, int]]:
    """One process's part of a full run (its own copy of the snapshot, its own transaction): its
    cases and their clock."""
    part = _Part(index, parts)
    snap.open_cases = {key: row for key, row in snap.open_cases.items() if key in part}
    desired = build_desired(snap, part)
    result = SweepResult()
    case_ids = _reconcile(snap, desired, result)
    write_clock(snap, set(desired), None, part)
    return result, set(desired), case_ids


def run_after_sweep(now: datetime | None = None) -> None:
    """The ``AFTER_SWEEP`` hooks (customer-message cadence, parcel updates, overdue replies)."""
    now = now or timezone.now()
    for path in AFTER_SWEEP:
        import_string(path)(now)


# --------------------------------------------------------------------------- cases and packets


def _audit(case_id: int, now: datetime, action: str, summary: str, **data) -> AuditEvent:
    return AuditEvent(
        at=now,
        actor=None,
        actor_label="system",
        action=action,
        case_id=case_id,
        object_type="packets.case",
        object_id=str(case_id),
        summary=summary[:500],
        data=data,
    )


def _transition(row: dict, new: str, reason: str, now: datetime, audits: list) -> None:
    """``Case.set_status`` for a loaded row: the same table, the same audit row, no query."""
    old = row["status"]
    if new not in Case.TRANSITIONS.get(old, set()):
        raise ValueError(f"A case cannot go from {old} to {new}.")
    row["status"] = new
    if new == Case.Status.RESOLVED:
        row["resolved_at"], row["resolution"] = now, reason[:255]
    elif old == Case.Status.RESOLVED:
        row["resolved_at"], row["resolution"] = None, ""
    audits.append(_audit(row["id"], now, "case.status", f"{old} → {new}. {reason}".strip(), old=old, new=new))


def _apply(row: dict, d: Desired) -> bool:
    """Copy the desired queue fields onto the row; True when any differed."""
    wanted = {
        "category": d.category,
        "title": d.title[:255],
        "risk_level": d.risk_level,
        "risk_rank": RISK_RANK[d.risk_level],
        "order_id": d.order_id,
        "product_id": d.product_id,
        "shipment_id": d.shipment_id,
        "supplier_id": d.supplier_id,
        "promise_at_risk": d.promise_at_risk,
        "customer_silent_since": d.customer_silent_since,
        "order_total": d.order_total,
        "order_promised_ship_by": d.order_promised_ship_by,
        "recommended_action": d.recommended_action,
        "evidence_strength": d.evidence_strength,
    }
    changed = any(row.get(name) != value for name, value in wanted.items())
    row.update(wanted)
    return changed


def _packet(case_id: int, version: int, d: Desired, sha: str, changes: list, snap: Snapshot) -> Packet:
    return Packet(
        case_id=case_id,
        version=version,
        policy=snap.policy,
        created_at=snap.now,
        content=d.content,
        content_sha256=_sha256(d.content_json),
        facts_sha256=sha,
        changes=changes,
        recommendation=d.recommended_action,
        recommendation_reason=d.recommendation_reason,
        evidence_strength=d.evidence_strength,
        risk_level=d.risk_level,
    )


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _with_opened_at(d: Desired, opened_at: datetime, text: PacketText) -> str:
    """The case's opening time into its packet; the facts hash (the stable view's), keeping the
    content's canonical text for the packet's own hash and its ``COPY``."""
    d.content["case"]["opened_at"] = opened_at.isoformat()
    d.content_json, stable = text.encode(d.content)
    return _sha256(stable)


def _resolved_cases(keys: list[str]) -> dict[str, dict]:
    """The most recent resolved case for each key, with its latest packet's id, version and hash."""
    if not keys:
        return {}
    latest = Packet.objects.filter(case_id=OuterRef("id")).order_by("-version")
    rows = (
        Case.objects.filter(status=Case.Status.RESOLVED, dedupe_key__in=keys)
        .annotate(
            packet_id=_sub(latest, "id"),
            packet_version=_sub(latest, "version"),
            packet_sha=_sub(latest, "facts_sha256"),
        )
        .order_by("dedupe_key", "-resolved_at", "-id")
        .values(*CASE_FIELDS, "packet_id", "packet_version", "packet_sha")
    )
    found: dict[str, dict] = {}
    for row in rows:
        found.setdefault(row["dedupe_key"], row | {"status_was": row["status"]})
    return found


def _sub(queryset, name: str) -> Subquery:
    return Subquery(queryset.values(name)[:1])


def _reconcile(snap: Snapshot, desired: dict[str, Desired], result: SweepResult) -> dict[str, int]:
    now = snap.now
    audits: list[AuditEvent] = []
    rows_to_update: dict[int, dict] = {}
    packets: list[tuple[int, int, Desired, str, int | None]] = []  # case, version, desired, sha, previous packet
    case_ids: dict[str, int] = {}
    text = PacketText()

    # Open cases whose facts hold: new packet version when the facts changed; queue fields.
    for key, row in snap.open_cases.items():
        d = desired.get(key)
        if d is None:
            _transition(row, Case.Status.RESOLVED, SWEEP_RESOLUTION_PREFIX + GONE[key.split(":")[0]], now, audits)
            rows_to_update[row["id"]] = row
            result.resolved += 1
            continue
        case_ids[key] = row["id"]
        sha = _with_opened_at(d, row["opened_at"], text)
        latest = snap.latest_packets.get(row["id"])
        if latest is None or latest["facts_sha256"] != sha:
            packets.append((row["id"], (latest["version"] if latest else 0) + 1, d, sha, latest and latest["id"]))
            if row["status"] == Case.Status.ACTIONED:
                # decided cases stay out of the queue until something changes: now it has
                _transition(
                    row, Case.Status.OPEN, "Back in the queue: its facts changed since the decision.", now, audits
                )
                rows_to_update[row["id"]] = row
        else:
            d.content_json = ""  # no new version: its text is not kept
        old_rank = row["risk_rank"]
        if _apply(row, d):
            rows_to_update[row["id"]] = row
            result.updated += 1
        if _escalates(old_rank, row, d, now, audits):
            rows_to_update[row["id"]] = row
            result.escalated += 1

    # Keys with no open case: reopen the last resolved one, or open a new case.
    missing = [key for key in desired if key not in snap.open_cases]
    resolved = _resolved_cases(missing)
    new_cases: list[tuple[Case, Desired, str]] = []
    for key in missing:
        d = desired[key]
        row = resolved.get(key)
        if row is None:
            sha = _with_opened_at(d, now, text)
            case = Case(
                kind=d.kind,
                dedupe_key=key,
                status=Case.Status.AWAITING_OWNER if RISK_RANK[d.risk_level] >= OWNER_RANK else Case.Status.OPEN,
                opened_at=now,
                updated_at=now,
            )
            values = {name: getattr(case, name) for name in QUEUE_FIELDS}
            _apply(values, d)
            for name, value in values.items():
                setattr(case, name, value)
            new_cases.append((case, d, sha))
            continue
        sha = _with_opened_at(d, row["opened_at"], text)
        by_person = not (row["resolution"] or "").startswith(SWEEP_RESOLUTION_PREFIX)
        if by_person and row["packet_sha"] == sha:
            continue  # resolved by a person on exactly these facts: their call stands
        why = "its facts changed since it was resolved" if by_person else "its cause is back"
        _transition(row, Case.Status.OPEN, f"Reopened by the sweep: {why}.", now, audits)
        old_rank = row["risk_rank"]
        _apply(row, d)
        _escalates(old_rank, row, d, now, audits, reopened=True)
        rows_to_update[row["id"]] = row
        case_ids[key] = row["id"]
        if row["packet_sha"] != sha:
            packets.append((row["id"], (row["packet_version"] or 0) + 1, d, sha, row["packet_id"]))
        result.reopened += 1

    # Writes: one statement each.
    for row in rows_to_update.values():
        row["updated_at"] = now
    written = update_rows(Case, rows_to_update.values(), UPDATE_FIELDS, unless_changed="status")
    skipped = set(rows_to_update) - written  # moved by a person since the read: their change stands
    audits = [event for event in audits if event.case_id not in skipped]
    created = Case.objects.bulk_create([case for case, _, _ in new_cases])
    for case, (_, d, sha) in zip(created, new_cases, strict=True):
        case_ids[d.key] = case.pk
        packets.append((case.pk, 1, d, sha, None))
        audits.append(
            _audit(case.pk, now, "case.opened", f"Opened by the sweep: {d.title}", kind=d.kind, category=d.category)
        )
        if case.status == Case.Status.AWAITING_OWNER:
            audits.append(_audit(case.pk, now, "case.escalated", "For the owner: " + " ".join(d.escalation_reasons)))
            result.escalated += 1
    result.opened = len(created)

    _write_packets(packets, snap)
    result.packets = len(packets)
    AuditEvent.objects.bulk_create(audits)
    emit_sweep_events(snap, created, rows_to_update, skipped, packets)
    result.open_cases = len(case_ids)
    return case_ids


def _write_packets(packets: list[tuple[int, int, Desired, str, int | None]], snap: Snapshot) -> None:
    """New packet versions with their changes from the previous one, a chunk at a time.

    Only a chunk's previous versions are held in memory at once (each is a few kilobytes of JSON,
    and a first run over a large store writes tens of thousands).
    """
    for start in range(0, len(packets), PACKET_CHUNK):
        chunk = packets[start : start + PACKET_CHUNK]
        previous = _contents([previous for *_, previous in chunk if previous])
        rows = [
            _packet(case_id, version, d, sha, diff(previous.get(prev), d.content) if prev else [], snap)
            for case_id, version, d, sha, prev in chunk
        ]
        for packet, (_, _, d, _, _) in zip(rows, chunk, strict=True):
            packet.content_json = d.content_json  # COPY sends the canonical text already made
        insert_rows(Packet, rows, prepared={"content": attrgetter("content_json")})


def _contents(packet_ids: list[int]) -> dict[int, dict]:
    """The packets' contents by id: their text read and decoded here (the ORM's JSON field path
    cost twice as much for the thousands of previous versions a first run reads)."""
    if not packet_ids:
        return {}
    if connection.vendor != "postgresql":
        return dict(Packet.objects.filter(InList("id", packet_ids)).values_list("id", "content"))
    table = connection.ops.quote_name(Packet._meta.db_table)
    with connection.cursor() as cursor:
        # the table name is model metadata; the ids are one array parameter
        cursor.execute(f"SELECT id, content::text FROM {table} WHERE id = ANY(%s)", [packet_ids])  # noqa: S608
        return {pk: json.loads(text) for pk, text in cursor.fetchall()}


def _escalates(old_rank: int, row: dict, d: Desired, now, audits, reopened: bool = False) -> bool:
    """Risk rose into the owner's hands: move the case to "awaiting the owner", once."""
    new_rank = RISK_RANK[d.risk_level]
    if new_rank < OWNER_RANK or (old_rank >= OWNER_RANK and not reopened):
        return False
    if row["status"] == Case.Status.AWAITING_OWNER:
        return False
    _transition(
        row, Case.Status.AWAITING_OWNER, "Escalated by the sweep: " + " ".join(d.escalation_reasons), now, audits
    )
    return True
