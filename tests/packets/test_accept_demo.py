"""On the demo store (as ``make run`` serves it, swept once), the owner's routine view holds the
routine updates and one "Accept all" takes every one of them, skipping none."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import transaction

from packets import accept as verbs
from packets.models import Case, Decision, Message
from packets.seeding.demo import seed_demo
from packets.sweep import run_sweep

NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)  # a Wednesday, 10:00 in the store's New York


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), time_machine.travel(NOW, tick=False), transaction.atomic():
        seed_demo(now=NOW)
        run_sweep()
        yield
        transaction.set_rollback(True)


@pytest.fixture(autouse=True)
def frozen(demo, db):
    with time_machine.travel(NOW, tick=False):
        yield


def test_the_owner_accepts_every_routine_update_of_the_demo_store_in_one_action(owner):
    routine = verbs.routine_cases(owner)
    with_updates = [a for a in routine if a.messages]
    assert len(routine) >= 20 and len(with_updates) >= 20  # a morning's worth
    for acceptance in routine:
        case = acceptance.case
        assert case.evidence_strength == "confirmed"
        assert case.risk_level not in (Case.Risk.CHARGEBACK_WATCH, Case.Risk.OWNER_ONLY)

    shown = {a.case.pk: (a.packet.version, [m.pk for m in a.messages]) for a in routine}
    result = verbs.accept_all(shown, owner)

    assert result.skipped == []
    assert len(result.done) == len(routine)
    # named by order number (a case about a product, with no order, by its title), never by an id
    assert sorted(result.done) == sorted(verbs.order_label(a.case) for a in routine)
    assert all(label.startswith(("order ", "“")) for label in result.done), result.done
    assert Decision.objects.filter(case_id__in=shown, status=Decision.Status.APPROVED).count() == len(routine)
    sent = [m for _, ids in shown.values() for m in ids]
    assert Message.objects.filter(pk__in=sent, status=Message.Status.QUEUED).count() == len(sent)
    assert verbs.routine_cases(owner) == []
