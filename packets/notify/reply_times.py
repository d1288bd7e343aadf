"""The weekly review's conversation figures: how fast people answered customers who wrote, how many
deadlines passed, and how many backordered orders were cancelled.

- **reply times**: for each customer message received in the week, the time until a person's answer
  (a customer message approved by a person, sent on the same case after it); the median and the
  90th percentile (nearest rank) of those answered, and how many still wait;
- **breaches**: reply deadlines that passed unanswered in the week (``case.reply_overdue``);
- **cancellation rate**: of the orders whose backorder case was open at some point in the week, the
  share cancelled in the week.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import Q

from backorders.models import Order
from packets.models import AuditEvent, Case, InboundMessage, Message


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile of ``values`` (``share`` from 0 to 1); None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


def reply_figures(start: datetime, now: datetime) -> dict:
    received = list(
        InboundMessage.objects.filter(case__isnull=False, received_at__gte=start, received_at__lt=now)
        .order_by("received_at")
        .values_list("case_id", "received_at")
    )
    answers: dict[int, list[datetime]] = defaultdict(list)
    for case_id, sent_at in (
        Message.objects.filter(
            case_id__in={case_id for case_id, _ in received},
            audience=Message.Audience.CUSTOMER,
            standing_approval=False,
            sent_at__gte=start,
        )
        .order_by("sent_at")
        .values_list("case_id", "sent_at")
    ):
        answers[case_id].append(sent_at)
    hours, waiting = [], 0
    for case_id, at in received:
        sent = answers.get(case_id, [])
        later = bisect_right(sent, at)
        if later < len(sent):
            hours.append((sent[later] - at) / timedelta(hours=1))
        else:
            waiting += 1
    breaches = AuditEvent.objects.filter(action="case.reply_overdue", at__gte=start, at__lt=now).count()
    backordered = Order.objects.filter(
        Q(cases__kind=Case.Kind.BACKORDER, cases__opened_at__lt=now)
        & (Q(cases__resolved_at__isnull=True) | Q(cases__resolved_at__gte=start))
    ).distinct()
    counted = backordered.count()
    cancelled = backordered.filter(cancelled_at__gte=start, cancelled_at__lt=now).count()
    median, p90 = percentile(hours, 0.5), percentile(hours, 0.9)
    return {
        "received": len(received),
        "answered": len(hours),
        "waiting": waiting,
        "median_hours": round(median, 1) if median is not None else None,
        "p90_hours": round(p90, 1) if p90 is not None else None,
        "breaches": breaches,
        "backordered_orders": counted,
        "cancelled_orders": cancelled,
        "cancellation_rate": round(100 * cancelled / counted, 1) if counted else None,
    }
