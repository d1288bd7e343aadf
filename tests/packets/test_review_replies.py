"""The weekly review's customer replies: time to a person's answer (median, 90th percentile), reply
deadlines missed, and the cancellation rate of backordered orders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from packets.models import AuditEvent, Case
from packets.notify.reply_times import percentile, reply_figures
from tests import factories

pytestmark = [pytest.mark.django_db]

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
START = NOW - timedelta(days=7)


def wrote_and_answered(case: Case, at: datetime, after_hours: float | None, *, automated: bool = False) -> None:
    factories.InboundMessageFactory(case=case, order=case.order, received_at=at)
    if after_hours is not None:
        sent = at + timedelta(hours=after_hours)
        factories.MessageFactory(
            case=case, order=case.order, status="sent", approved_at=sent, sent_at=sent, standing_approval=automated
        )


def test_it_measures_the_time_to_a_persons_answer_and_counts_what_still_waits():
    cases = [factories.CaseFactory() for _ in range(5)]
    for case, hours in zip(cases[:4], [2, 4, 10, 30], strict=True):
        wrote_and_answered(case, NOW - timedelta(days=3), hours)
    wrote_and_answered(cases[4], NOW - timedelta(days=1), 1, automated=True)  # an automated update answers nothing
    wrote_and_answered(cases[0], START - timedelta(days=2), 1)  # last week's: not counted
    with time_machine.travel(NOW - timedelta(days=1), tick=False):
        AuditEvent.record("case.reply_overdue", case=cases[3], summary="Reply deadline passed unanswered")

    figures = reply_figures(START, NOW)

    assert (figures["received"], figures["answered"], figures["waiting"]) == (5, 4, 1)
    assert (figures["median_hours"], figures["p90_hours"], figures["breaches"]) == (4.0, 30.0, 1)


def test_it_counts_the_backordered_orders_cancelled_in_the_week():
    kept = factories.CaseFactory(opened_at=NOW - timedelta(days=10))
    cancelled = factories.CaseFactory(opened_at=NOW - timedelta(days=2))
    factories.CaseFactory(kind=Case.Kind.STALE_TRACKING, opened_at=NOW - timedelta(days=2))  # not a backorder
    order = cancelled.order
    order.status, order.cancelled_at = "cancelled", NOW - timedelta(days=1)
    order.save()

    figures = reply_figures(START, NOW)

    assert (figures["backordered_orders"], figures["cancelled_orders"], figures["cancellation_rate"]) == (2, 1, 50.0)
    assert kept.order.status != "cancelled"


def test_nearest_rank_percentiles():
    assert percentile([], 0.5) is None
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 0.9) == 9.0
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0


def test_the_review_page_shows_them(owner_client, policy):
    case = factories.CaseFactory()
    wrote_and_answered(case, datetime.now(UTC) - timedelta(hours=5), 3)
    page = owner_client.get(reverse("packets:review-weekly")).content.decode()
    assert "median 3.0 h, 90th percentile 3.0 h" in page
    assert f"policy: {policy.reply_first_hours} h for a first message" in page
