"""The outbound events of one sweep run: ``case.opened`` for each case it opened, ``case.updated``
for each case whose status it moved (resolved, reopened, escalated) or whose packet got a new
version. Written with ``emit_many``: two queries whatever the number of cases (one with no
subscription, none when nothing changed).
"""

from __future__ import annotations

from collections.abc import Iterable

from packets.integrations.outbound import case_payload, emit_many
from packets.models import Case


def emit_sweep_events(snap, opened: Iterable[Case], rows: dict[int, dict], skipped: set[int], packets) -> None:
    """``rows``: the case rows the run wrote (by id); ``skipped``: those a person moved meanwhile
    (their status stands, so only a new packet is reported); ``packets``: the run's new versions,
    ``(case_id, version, ...)``."""
    events = [("case.opened", case_payload(case), case.pk) for case in opened]
    new_ids = {case_id for _, _, case_id in events}
    versioned = {case_id for case_id, *_ in packets} - new_ids
    changed = {case_id: ["status"] for case_id, row in rows.items() if case_id not in skipped and _moved(row)}
    for case_id in versioned:
        changed.setdefault(case_id, []).append("packet")
    by_id = ({row["id"]: row for row in snap.open_cases.values()} | rows) if changed else {}
    for case_id, changes in changed.items():
        row = by_id[case_id] | {"updated_at": snap.now}
        if case_id in skipped:
            row["status"] = row["status_was"]
        events.append(("case.updated", case_payload(row, changes), case_id))
    emit_many(events)


def _moved(row: dict) -> bool:
    return row["status"] != row["status_was"]
