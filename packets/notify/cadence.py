"""The customer-message cadence, level-triggered: make the drafts that are due exist.

``draft_due_messages(now)`` looks at every order line that waited on stock and makes the
messages the facts call for exist, once each (``Message.idempotency_key``):

* the policy's cadence steps (``StorePolicy.cadence``, hours after ``OrderLine.backordered_at``):
  only the latest step that is due is drafted, so a sweep that was down for a week writes one
  message, not a backlog;
* the FTC Mail Order Rule delay notice, once the promised ship date (``Order.promised_ship_by``)
  or, without one, 30 days since the order has passed; and a renewed notice (``delay_notice:2``,
  ``:3``...) before the revised date it gave runs out while no estimate makes it, or 30 days after
  a notice that could give no date: each offers to cancel again;
* a revised-range message when the range from ``suppliers.eta.customer_range`` no longer overlaps
  the range the customer was last told (or switches between known and unknown);
* "being prepared" when a line that waited is allocated, and "thanks for your patience" with
  tracking when it ships.

Pending drafts of a line that is no longer waiting are cancelled (with an audit row each), and
nothing further is drafted for cancelled lines. Drafts whose step the owner approved in advance
(``StorePolicy.standing_approvals``) are approved and queued here, unless the customer is VIP or
the order high value, supplier evidence conflicts, the order's case is at risk, or the text breaks
a guideline: those wait for a person.

Set-based: a fixed number of queries whatever the number of lines and products (the ETA ranges of
all waiting products come from ``suppliers.eta.customer_ranges`` at once).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from backorders.bulk import InList, insert_rows, paused_gc
from backorders.calendar import BusinessCalendar
from backorders.formats.phones import is_e164
from backorders.models import Order, OrderLine, StorePolicy
from packets.models import AuditEvent, Case, Message
from packets.notify import cadence_parts as parts
from packets.notify import channels, drafting, wording
from packets.notify.cadence_rows import LINE_VALUES, _line
from packets.notify.links import customer_links
from packets.notify.messaging import enqueue_send
from suppliers.eta import customer_ranges
from suppliers.models import SupplierUpdate

FTC_DEFAULT_DAYS = 30  # no shipping time stated: the rule's 30 days
CONFLICT_LOOKBACK = timedelta(days=30)
SHIPPED_LOOKBACK = timedelta(days=14)  # thank-you notes only for recent shipments
# A renewed delay notice goes out this many days before the date we last gave runs out.
RENEWAL_LEAD = timedelta(days=2)
AT_RISK = frozenset({Case.Risk.REFUND_RISK, Case.Risk.CHARGEBACK_WATCH, Case.Risk.OWNER_ONLY})
PENDING = (Message.Status.DRAFT, Message.Status.APPROVED, Message.Status.QUEUED, Message.Status.FAILED)
# What the customer was told, or will be once a person approves it (a draft counts, so a revision
# is drafted once, not on every sweep while it waits for approval).
TOLD = (
    Message.Status.DRAFT,
    Message.Status.APPROVED,
    Message.Status.QUEUED,
    Message.Status.SENDING,
    Message.Status.SENT,
)
WAITING_STATES = (OrderLine.State.BACKORDERED, OrderLine.State.PARTIAL)
PARCEL_STEPS = (drafting.SHIPPED, drafting.PART_SHIPPED)  # steps that quote the order's parcel


@dataclass
class CadenceResult:
    drafted: list[str] = field(default_factory=list)  # idempotency keys offered to the database
    auto_approved: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)


def cadence_key(line_id: int, step: str) -> str:
    return f"cadence:{line_id}:{step}"


def preferred_channel(customer) -> tuple[str, str] | None:
    """(channel, address) for a customer: SMS only with opt-in and a phone in E.164, else email; never
    a channel that is not set up (an SMS customer gets email while SMS is not), None when none is."""
    if customer is None or customer.erased_at is not None:
        return None
    if (
        customer.preferred_channel == "sms"
        and customer.sms_opt_in
        and is_e164(customer.phone)
        and channels.ready(channels.SMS)
    ):
        return Message.Channel.SMS, customer.phone
    if customer.email and channels.ready(channels.EMAIL):
        return Message.Channel.EMAIL, customer.email
    return None


def _relevant_lines(now: datetime):
    """Lines that waited on stock and may need a message or a cancelled draft: one query."""
    message_for = Message.objects.filter(order_line=OuterRef("pk"))
    is_open = Q(order__status=Order.Status.OPEN)
    waiting = is_open & Q(state__in=WAITING_STATES)
    # "Restocked" is read as allocated-after-waiting; when OrderLine.allocated_at exists, this and
    # the matching test in _due_steps are the two places to switch to it.
    restocked = (
        is_open
        & Q(state=OrderLine.State.ALLOCATED)
        & ~Exists(message_for.filter(step__in=[drafting.RESTOCKED, drafting.SHIPPED]))
    )
    shipped = Q(state=OrderLine.State.SHIPPED, shipped_at__gte=now - SHIPPED_LOOKBACK) & ~Exists(
        message_for.filter(step=drafting.SHIPPED)
    )
    has_pending = Exists(message_for.filter(status__in=PENDING).exclude(step=""))
    return (
        OrderLine.objects.filter(backordered_at__isnull=False)
        .filter(waiting | restocked | shipped | has_pending)
        .order_by("pk")
        .values(*LINE_VALUES)
    )


@transaction.atomic
@paused_gc()
def draft_due_messages(now: datetime | None = None) -> CadenceResult:
    now = now or timezone.now()
    result = CadenceResult()
    policy = StorePolicy.objects.current()
    lines = [_line(row) for row in _relevant_lines(now)]
    if not lines:
        return result
    today = BusinessCalendar.for_policy(policy).local_date(now)
    steps = sorted(policy.cadence, key=lambda s: s["after_hours"])

    existing: dict[int, list[dict]] = defaultdict(list)
    for row in (
        Message.objects.filter(InList("order_line_id", [line.pk for line in lines]))
        .exclude(step="")
        .values("pk", "order_line_id", "step", "status", "eta_told", "created_at", "case_id")
        .order_by("created_at", "pk")
    ):
        existing[row["order_line_id"]].append(row)
    cases: dict[int, Case] = {}
    for case in (
        Case.objects.open()
        .filter(InList("order_id", {line.order_id for line in lines}))
        .order_by("-opened_at")
        .values("pk", "order_id", "risk_level", "category")
    ):
        cases.setdefault(case["order_id"], case)
    waiting_products = {line.product_id for line in lines if _is_waiting(line)}
    conflicting = set(
        SupplierUpdate.objects.filter(
            InList("product_id", {line.product_id for line in lines}),
            strength=SupplierUpdate.Strength.CONFLICTING,
            received_at__gte=now - CONFLICT_LOOKBACK,
        ).values_list("product_id", flat=True)
    )
    waiting_orders = {line.order_id for line in lines if _is_waiting(line)}
    shipped_orders = {line.order_id for line in lines if line.state == OrderLine.State.SHIPPED}
    shipments, moving = parts.parcels(shipped_orders | waiting_orders)
    etas = customer_ranges(waiting_products, today=today, policy=policy)
    partial = parts.partial_shipments(
        lines, existing, waiting=_is_waiting, moving=moving, etas=etas, today=today, step=drafting.PART_SHIPPED
    )

    links = customer_links()
    drafts: list[tuple] = []
    auto_keys: list[str] = []
    to_cancel: list[int] = []
    due: list[tuple] = []
    for line in lines:
        rows = existing[line.pk]
        gone = parts.discontinued(line, cases.get(line.order_id))
        to_cancel += _stale_pending(line, rows, moving=line.order_id in moving, gone=gone)
        due += [
            (line, step, kwargs)
            for step, kwargs in _due_steps(
                line,
                rows,
                steps,
                now,
                today,
                etas,
                moving=line.order_id in moving,
                gone=gone,
                policy=policy,
                part=partial.due.get(line.pk),
                quiet=line.pk in partial.quiet,
            )
        ]
    # the owner's wording: the day-7 alternative offer needs an in-stock alternative (one query, if worded)
    offers = wording.alternatives([(line, step) for line, step, _ in due], policy)
    worded: dict[str, tuple] = {}
    for line, step, kwargs in due:
        chosen = _chosen(line, step, policy, offers.get(line.pk, ""))
        extra = {"chosen": chosen, "alternative": offers.get(line.pk, "")} if chosen else {}
        message, auto = _build(
            line, step, {**kwargs, **extra}, policy, today, now, cases, conflicting, shipments, links, moving
        )
        if message is None:
            continue
        drafts.append(message)
        key = message[MESSAGE_COLUMNS.index("idempotency_key")]
        result.drafted.append(key)
        if chosen:
            worded[key] = (step, chosen)
        if auto:
            auto_keys.append(key)

    insert_rows(Message, MESSAGE_COLUMNS, drafts, ignore_conflicts=True)
    wording.record_variants(worded, policy, now)
    if to_cancel:
        result.cancelled = _cancel(to_cancel, now)
    if auto_keys:
        result.auto_approved = _approve_standing(auto_keys, now)
    return result


def _chosen(line, step: str, policy: StorePolicy, alternative: str):
    """The owner's wording for a due cadence step (None: the built-in text, or not a cadence step)."""
    address = preferred_channel(line.order.customer)
    if address is None or not policy.cadence_wording:
        return None
    return wording.choose(policy, step, address[0], line.order.customer, alternative=alternative)


def _is_waiting(line: OrderLine) -> bool:
    return line.order.status == Order.Status.OPEN and line.state in WAITING_STATES


def _stale_pending(line: OrderLine, rows: list[dict], *, moving: bool = True, gone: bool = False) -> list[int]:
    """Pending messages that no longer fit the line: updates for a line that stopped waiting, updates
    promising a date for an item that will not come back, and everything for a cancelled line or order."""
    rows = [row for row in rows if row["step"] not in drafting.PERSON_STEPS]  # a person cancels those
    if _is_waiting(line):
        if gone:  # a replacement offer holds out no wait: it stays
            keep = {drafting.DISCONTINUED, drafting.REPLACEMENT_OFFER}
            return [row["pk"] for row in rows if row["status"] in PENDING and row["step"] not in keep]
        return []
    if line.state == OrderLine.State.SHIPPED:
        # shipped with a label only: "being prepared" still holds until a carrier scan
        keep = {drafting.SHIPPED} if moving else {drafting.RESTOCKED, drafting.SHIPPED}
    elif line.state == OrderLine.State.CANCELLED or line.order.status != Order.Status.OPEN:
        keep = set()
    else:  # allocated: being prepared
        keep = {drafting.RESTOCKED, drafting.SHIPPED}
    return [row["pk"] for row in rows if row["status"] in PENDING and row["step"] not in keep]


def _due_steps(line, rows, steps, now, today, etas, *, moving=True, gone=False, policy=None, part=None, quiet=False):
    """(step, render kwargs) pairs this line needs now and does not have yet.

    A shipped line whose parcel has a label and no carrier scan is not told "on its way": it gets
    "being prepared" (once), and the shipped message when a scan shows movement."""
    have = {row["step"] for row in rows}
    if line.state == OrderLine.State.SHIPPED:
        if drafting.SHIPPED in have or quiet:  # quiet: a part-shipped message tells it
            return []
        if not moving:
            return [] if drafting.RESTOCKED in have else [(drafting.RESTOCKED, {})]
        return [(drafting.SHIPPED, {})]
    if line.state == OrderLine.State.ALLOCATED and line.order.status == Order.Status.OPEN:
        return [] if have & {drafting.RESTOCKED, drafting.SHIPPED} else [(drafting.RESTOCKED, {})]
    if not _is_waiting(line):
        return []
    if gone:  # one plain message: it will not come back; replace or cancel. Never "a date will come".
        return [] if drafting.DISCONTINUED in have else [(drafting.DISCONTINUED, {"offer_cancel": True})]
    if part is not None:  # part of the order ships now, this part waits: that message says both
        return [(drafting.PART_SHIPPED, part)]

    eta = etas.get(line.product_id)
    # an estimate far out: the customer is offered cancellation up front, and the owner approves
    long_wait = eta is not None and policy is not None and (eta.end - today).days > policy.long_eta_days
    next_step = next((s for s in steps if line.backordered_at + timedelta(hours=s["after_hours"]) > now), None)
    next_update = _local_date(line.backordered_at + timedelta(hours=next_step["after_hours"])) if next_step else None
    base = {"eta": eta, "next_update": next_update, "long_wait": long_wait}
    due: list[tuple[str, dict]] = []

    order = line.order
    if order.promised_ship_by is not None:
        promise_broken = today >= order.promised_ship_by
    else:
        promise_broken = now >= order.placed_at + timedelta(days=FTC_DEFAULT_DAYS)
    if promise_broken and drafting.DELAY_NOTICE not in have:
        due.append((drafting.DELAY_NOTICE, {**base, "offer_cancel": True}))
    elif promise_broken and _renewal_due(rows, eta, now, today):
        notices = sum(1 for row in rows if row["step"] == drafting.DELAY_NOTICE)
        due.append((f"{drafting.DELAY_NOTICE}:{notices + 1}", {**base, "offer_cancel": True, "renewed": True}))

    # The latest cadence step that is due, unless the customer heard from us since it fell due (a
    # delay notice drafted in this same pass says everything the update would, and more).
    latest = None
    for step in steps:
        if line.backordered_at + timedelta(hours=step["after_hours"]) <= now:
            latest = step
    if latest is not None and latest["key"] not in have and not due:
        step_due_at = line.backordered_at + timedelta(hours=latest["after_hours"])
        told_since = any(row["status"] in TOLD and row["created_at"] >= step_due_at for row in rows)
        if not told_since:
            offer = bool(latest.get("offer_cancel")) or long_wait
            due.insert(0, (latest["key"], {**base, "offer_cancel": offer}))

    if not due:
        told = [row for row in rows if row["status"] in TOLD and row["eta_told"]]
        if told and _range_changed(told[-1]["eta_told"], eta):
            revisions = sum(1 for row in rows if row["step"] == drafting.ETA_REVISED)
            due.append((f"{drafting.ETA_REVISED}:{revisions + 1}", base))
    return due


def _renewal_due(rows, eta, now: datetime, today) -> bool:
    """A renewed delay notice is due when the date last given since the first notice is about to pass
    with the line still waiting and no estimate that makes it, or, when no date could be given,
    FTC_DEFAULT_DAYS after the last notice (the updates in between do not count): the customer again
    chooses to wait or to cancel."""
    last_notice = last_told = None
    for row in rows:
        if row["status"] not in TOLD:
            continue
        if row["step"] == drafting.DELAY_NOTICE:
            last_notice = row
        if last_notice is not None and row["eta_told"]:
            last_told = row
    if last_told is None:
        return False
    told = drafting.parse_eta_key(last_told["eta_told"])
    if told is None:
        return now >= last_notice["created_at"] + timedelta(days=FTC_DEFAULT_DAYS)
    told_end = told[1]
    return today >= told_end - RENEWAL_LEAD and (eta is None or eta.end > told_end)


def _range_changed(told: str, eta) -> bool:
    """True when what we told no longer holds: the ranges do not overlap, or known/unknown switched."""
    before = drafting.parse_eta_key(told)
    if before is None or eta is None:
        return (before is None) != (eta is None)
    start, end = before
    return eta.start > end or eta.end < start


def _local_date(moment: datetime):
    return BusinessCalendar().local_date(moment)


MESSAGE_COLUMNS = (
    "case_id",
    "order_id",
    "order_line_id",
    "customer_id",
    "channel",
    "audience",
    "step",
    "to",
    "subject",
    "body",
    "eta_told",
    "idempotency_key",
    "guideline_issues",
    "needs_owner",
    "created_at",
)


def _build(line, step_id, kwargs, policy, today, now, cases, conflicting, shipments, links, moving=frozenset()):
    """The Message row for a due step (values in ``MESSAGE_COLUMNS``), and whether its standing approval applies."""
    order = line.order
    address = preferred_channel(order.customer)
    if address is None:
        return None, False
    channel, to = address
    step = step_id.split(":", 1)[0]
    draft = drafting.render(
        step,
        line=line,
        channel=channel,
        policy=policy,
        today=today,
        link=links(order),
        shipment=shipments.get(order.pk) if step in PARCEL_STEPS else None,
        parcel_moving=(order.pk in moving) if step in PARCEL_STEPS else None,
        **kwargs,
    )
    case = cases.get(order.pk)
    conflict = line.product_id in conflicting
    needs_owner = (
        order.customer.is_vip(policy)
        or order.total >= policy.high_value_order
        or conflict
        or bool(kwargs.get("long_wait"))  # an estimate past the policy's long_eta_days is the owner's call
    )
    message = (
        case and case["pk"],
        order.pk,
        line.pk,
        order.customer.pk,
        channel,
        Message.Audience.CUSTOMER,
        step,
        to,
        draft.subject,
        draft.body,
        draft.eta_told,
        cadence_key(line.pk, step_id),
        draft.issues,
        needs_owner,
        now,
    )
    at_risk = case is not None and case["risk_level"] in AT_RISK
    auto = step in policy.standing_approvals and not (needs_owner or draft.issues or at_risk)
    return message, auto


def _cancel(ids: list[int], now: datetime) -> list[int]:
    rows = list(
        Message.objects.select_for_update()
        .filter(pk__in=ids, status__in=PENDING)
        .values_list("pk", "case_id", "status", "step")
    )
    if not rows:
        return []
    Message.objects.filter(pk__in=[pk for pk, *_ in rows]).update(status=Message.Status.CANCELLED)
    AuditEvent.objects.bulk_create(
        AuditEvent(
            at=now,
            actor_label="system",
            action="message.cancelled",
            case_id=case_id,
            object_type="packets.message",
            object_id=str(pk),
            summary=f"{status} → cancelled: the line is no longer waiting, so the {step} message is out of date",
            data={"old": status},
        )
        for pk, case_id, status, step in rows
    )
    return [pk for pk, *_ in rows]


def _approve_standing(keys: list[str], now: datetime) -> list[int]:
    rows = list(
        Message.objects.select_for_update()
        .filter(idempotency_key__in=keys, status=Message.Status.DRAFT)
        .values_list("pk", "case_id", "step")
    )
    if not rows:
        return []
    ids = [pk for pk, *_ in rows]
    Message.objects.filter(pk__in=ids).update(
        status=Message.Status.QUEUED, standing_approval=True, approved_at=now, queued_at=now
    )
    events = []
    for pk, case_id, step in rows:
        for action, summary in (
            ("message.approved", f"draft → approved by the owner's standing approval for {step}"),
            ("message.queued", "approved → queued for sending"),
        ):
            events.append(
                AuditEvent(
                    at=now,
                    actor_label="system",
                    action=action,
                    case_id=case_id,
                    object_type="packets.message",
                    object_id=str(pk),
                    summary=summary,
                    data={"standing_approval": True},
                )
            )
    AuditEvent.objects.bulk_create(events)
    transaction.on_commit(lambda: [enqueue_send(pk) for pk in ids])
    return ids
