"""The case on one time axis, drawn on the server as an SVG picture.

``collect`` turns the packet content, decisions and messages into points on lanes; ``render_svg``
draws them. Both are pure: no queries, so the packet page's query count does not depend on them.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC as utc
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

LANES = [
    ("order", "Order & case"),
    ("supplier", "Supplier"),
    ("carrier", "Carrier scans"),
    ("messages", "Messages"),
    ("decisions", "Decisions"),
]
TONES = {"": "#2456c7", "ok": "#1f7a4d", "warn": "#a15c00", "bad": "#b42318", "muted": "#8a93a6"}

WIDTH = 720  # about the width it is shown at, so 12 units of text read as 12 pixels
GUTTER = 104  # room for the lane names
RIGHT = 12
TOP = 40  # room for the markers' labels, in two rows
LANE_HEIGHT = 30
AXIS = 24
CHAR_WIDTH = 6.4  # average width of a 11-unit character, to decide whether a label fits


@dataclass(frozen=True)
class Point:
    at: datetime
    lane: str
    label: str
    tone: str = ""


@dataclass(frozen=True)
class Span:
    start: datetime
    end: datetime
    lane: str
    label: str


@dataclass(frozen=True)
class Marker:
    at: datetime
    label: str
    tone: str = ""


def to_moment(value) -> datetime | None:
    """An ISO 8601 string or a datetime, as an aware datetime.

    A bare date (a promised ship-by day, a restock range end) is a day in the store's calendar:
    it becomes noon of that day in the store's time zone, so it shows as the same day.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=utc)
    if isinstance(value, date):
        return _store_noon(value)
    text = str(value)
    if len(text) == 10:
        day = parse_date(text)
        return _store_noon(day) if day else None
    parsed = parse_datetime(text)
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=utc)


def _store_noon(day: date) -> datetime:
    return datetime.combine(day, time(12, 0), tzinfo=zoneinfo.ZoneInfo(settings.STORE_TIME_ZONE))


def collect(content: dict, *, decisions=(), messages=(), inbound=()) -> tuple[list[Point], list[Span], list[Marker]]:
    points: list[Point] = []
    spans: list[Span] = []
    markers: list[Marker] = []

    def add(value, lane, label, tone=""):
        moment = to_moment(value)
        if moment is not None:
            points.append(Point(moment, lane, label, tone))

    content = content or {}
    case = content.get("case") or {}
    add(case.get("opened_at"), "order", "Case opened", "warn")
    order = content.get("order") or {}
    add(order.get("placed_at"), "order", f"Order {order.get('number', '')} placed".replace("  ", " "))
    promised = to_moment(order.get("promised_ship_by"))
    if promised is not None:
        markers.append(Marker(promised, "Promised ship-by", "bad"))

    supplier = content.get("supplier") or {}
    for update in supplier.get("updates") or []:
        strength = update.get("strength") or ""
        tone = {"confirmed": "ok", "weak": "warn", "conflicting": "bad"}.get(strength, "")
        add(update.get("received_at"), "supplier", update.get("summary") or update.get("kind") or "Update", tone)
    estimate = supplier.get("restock_estimate") or {}
    start, end = to_moment(estimate.get("from")), to_moment(estimate.get("to"))
    if start and end and end >= start:
        spans.append(Span(start, end, "supplier", f"Restock estimate ({estimate.get('strength') or 'unrated'})"))

    tracking = content.get("tracking") or {}
    add(tracking.get("label_created_at"), "carrier", "Label created", "muted")
    for event in tracking.get("events") or []:
        status = event.get("status") or ""
        tone = "bad" if status in {"exception", "returned", "expired"} else ("ok" if status == "delivered" else "")
        where = f" · {event['location']}" if event.get("location") else ""
        add(event.get("occurred_at"), "carrier", f"{event.get('raw_status') or status}{where}", tone)

    for message in messages:
        moment = message.sent_at or message.queued_at or message.created_at
        verb = {"draft": "Draft", "sent": "Sent", "failed": "Failed", "cancelled": "Cancelled"}.get(
            message.status, message.get_status_display()
        )
        tone = {"draft": "muted", "failed": "bad", "sent": "ok"}.get(message.status, "")
        add(moment, "messages", f"{verb}: {message.subject or message.get_channel_display()}", tone)
        if message.delivery:  # what the email provider reported afterwards
            tone = "ok" if message.delivery == "delivered" else "bad"
            label = message.get_delivery_display()
            add(message.delivery_at, "messages", f"{label}: {message.subject or message.to}", tone)
    for reply in inbound:
        add(reply.received_at, "messages", f"Customer wrote: {reply.subject or reply.body[:40]}", "warn")

    for decision in decisions:
        tone = {"approved": "ok", "rejected": "muted", "proposed": "warn"}.get(decision.status, "")
        add(decision.decided_at, "decisions", f"{decision.get_action_display()} ({decision.status})", tone)
    return points, spans, markers


def _ticks(start: datetime, end: datetime, tz) -> list[datetime]:
    days = max((end - start).days, 1)
    step = next((s for s in (1, 2, 3, 7, 14, 30, 61, 91) if days / s <= 9), 182)
    first = datetime.combine(start.astimezone(tz).date() + timedelta(days=1), time(0, 0), tzinfo=tz)
    ticks, moment = [], first
    while moment < end:
        ticks.append(moment)
        moment += timedelta(days=step)
    return ticks


def render_svg(points, spans=(), markers=(), *, now: datetime, title: str = "Case timeline") -> SafeString:
    tz = zoneinfo.ZoneInfo(settings.STORE_TIME_ZONE)
    moments = [p.at for p in points] + [s.start for s in spans] + [s.end for s in spans] + [m.at for m in markers]
    moments.append(now)
    start, end = min(moments), max(moments)
    if end - start < timedelta(days=1):
        start -= timedelta(hours=12)
        end += timedelta(hours=12)
    pad = (end - start) * 0.03
    start, end = start - pad, end + pad
    plot = WIDTH - GUTTER - RIGHT
    height = TOP + LANE_HEIGHT * len(LANES) + AXIS
    total = (end - start).total_seconds()

    def x(moment: datetime) -> float:
        return round(GUTTER + plot * (moment - start).total_seconds() / total, 1)

    lane_y = {key: TOP + LANE_HEIGHT * i + LANE_HEIGHT / 2 for i, (key, _) in enumerate(LANES)}
    out = [
        f'<svg class="timeline" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (key, label) in enumerate(LANES):
        top = TOP + LANE_HEIGHT * i
        fill = "#f6f7f9" if i % 2 == 0 else "#ffffff"
        out.append(f'<rect x="{GUTTER}" y="{top}" width="{plot}" height="{LANE_HEIGHT}" fill="{fill}"/>')
        out.append(
            f'<text x="{GUTTER - 8}" y="{lane_y[key] + 4}" text-anchor="end" fill="#5b6475">{escape(label)}</text>'
        )
    bottom = TOP + LANE_HEIGHT * len(LANES)
    for tick in _ticks(start, end, tz):
        tx = x(tick)
        if tx > WIDTH - RIGHT - 18:
            continue  # its label would be cut off at the edge
        out.append(f'<line x1="{tx}" y1="{TOP}" x2="{tx}" y2="{bottom}" stroke="#e3e7ee"/>')
        out.append(f'<text x="{tx}" y="{bottom + 16}" text-anchor="middle" fill="#5b6475">{tick:%b} {tick.day}</text>')
    for span in spans:
        y = lane_y[span.lane]
        x1, x2 = x(span.start), max(x(span.end), x(span.start) + 3)
        out.append(
            f'<rect class="tl-span" x="{x1}" y="{y - 8}" width="{round(x2 - x1, 1)}" height="16" rx="4" '
            f'fill="#2456c7" fill-opacity=".15" stroke="#2456c7" stroke-dasharray="4 3">'
            f"<title>{escape(span.label)}: {_when(span.start, tz, day=True)} – {_when(span.end, tz, day=True)}</title>"
            f"</rect>"
        )
    placed: list[tuple[float, float, int]] = []  # label extents already used, per row
    for marker in sorted([*markers, Marker(now, "Now", "")], key=lambda m: m.at):
        mx = x(marker.at)
        colour = TONES.get(marker.tone, TONES[""])
        width = len(marker.label) * CHAR_WIDTH + 8
        anchor = "end" if mx + width > WIDTH - RIGHT else "start"
        left, right = (mx - width, mx) if anchor == "end" else (mx, mx + width)
        row = 0 if not any(r == 0 and left < b and right > a for a, b, r in placed) else 1
        placed.append((left, right, row))
        out.append(
            f'<line x1="{mx}" y1="{TOP - 6 - 13 * row}" x2="{mx}" y2="{bottom}" stroke="{colour}" stroke-width="1.5" '
            f'stroke-dasharray="{"" if marker.label == "Now" else "5 3"}"/>'
        )
        out.append(
            f'<text x="{mx + (-4 if anchor == "end" else 4)}" y="{TOP - 8 - 13 * row}" text-anchor="{anchor}" '
            f'fill="{colour}" font-weight="600">{escape(marker.label)}</text>'
        )
    by_lane: dict[str, list[Point]] = {}
    for point in sorted(points, key=lambda p: p.at):
        by_lane.setdefault(point.lane, []).append(point)
    for lane, lane_points in by_lane.items():
        py = lane_y[lane]
        for i, point in enumerate(lane_points):
            px = x(point.at)
            colour = TONES.get(point.tone, TONES[""])
            out.append(
                f'<circle class="tl-point tl-{lane}" cx="{px}" cy="{py}" r="5.5" fill="{colour}" '
                f'stroke="#fff" stroke-width="1.5">'
                f"<title>{_when(point.at, tz)} · {escape(point.label)}</title></circle>"
            )
            # A short label beside the dot when it fits before the next dot and the edge.
            limit = x(lane_points[i + 1].at) if i + 1 < len(lane_points) else WIDTH - RIGHT
            limit = min([limit, *(x(s.start) for s in spans if s.lane == lane and x(s.start) > px)])
            room = int((limit - px - 14) / CHAR_WIDTH)
            if room >= 6:
                text = point.label if len(point.label) <= room else point.label[: room - 1].rstrip() + "…"
                out.append(f'<text x="{px + 8}" y="{py + 4}" font-size="11" fill="#3b4354">{escape(text)}</text>')
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - every piece of text above went through escape()


def _when(moment: datetime, tz, *, day: bool = False) -> str:
    local = moment.astimezone(tz)
    return f"{local:%b} {local.day}" if day else f"{local:%b} {local.day}, {local:%H:%M}"


def timeline_svg(content: dict, *, decisions=(), messages=(), inbound=(), now: datetime) -> SafeString:
    points, spans, markers = collect(content, decisions=decisions, messages=messages, inbound=inbound)
    return render_svg(points, spans, markers, now=now)
