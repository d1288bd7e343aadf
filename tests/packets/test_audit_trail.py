"""The audit trail cannot be rewritten, says who did what in UTC, and can be verified."""

import datetime as dt
import io

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, models, transaction
from django.test import RequestFactory

from packets.audit import record_refusal
from packets.models import AuditEvent, Packet
from tests import factories
from tests.packets.contract_content import packet_content

pytestmark = pytest.mark.django_db


@pytest.mark.postgres
def test_it_fails_to_update_an_audit_event_even_past_the_application(owner):
    event = AuditEvent.record("decision.approved", actor=owner, summary="Refund approved")
    plain = models.QuerySet(AuditEvent)  # a queryset without the application's guard
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        plain.filter(pk=event.pk).update(summary="Refund rejected", actor_label="someone else")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        plain.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).summary == "Refund approved"


@time_machine.travel(dt.datetime(2026, 3, 6, 16, 52, 30, tzinfo=dt.UTC), tick=False)
def test_it_records_a_refused_action_with_the_user_and_the_time_in_utc(outsider):
    request = RequestFactory().post("/cases/7/decisions/3/approve/", REMOTE_ADDR="203.0.113.9")
    request.user = outsider
    case = factories.CaseFactory()

    event = record_refusal(request, "decision.approve", "Only the owner approves refunds.", case=case)

    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor, stored.actor_label, stored.case, stored.action) == (outsider, "otto", case, "access.refused")
    assert stored.summary == "Refused decision.approve: Only the owner approves refunds."
    assert stored.data == {
        "refused_action": "decision.approve",
        "reason": "Only the owner approves refunds.",
        "method": "POST",
        "path": "/cases/7/decisions/3/approve/",
        "ip": "203.0.113.9",
    }
    assert stored.at == dt.datetime(2026, 3, 6, 16, 52, 30, tzinfo=dt.UTC)
    with connection.cursor() as cursor:  # the column holds the instant; read back as UTC
        cursor.execute(f"SELECT at FROM {AuditEvent._meta.db_table} WHERE id = %s", [event.pk])
        raw = cursor.fetchone()[0]
    if connection.vendor == "postgresql":
        assert raw.utcoffset() == dt.timedelta(0)
    else:  # SQLite keeps the UTC instant as naive text
        assert raw == stored.at.replace(tzinfo=None)


def test_it_verifies_packet_hashes_and_passes_when_nothing_changed(policy):
    factories.PacketFactory.create_batch(3, content=packet_content(policy), policy=policy)
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().startswith("OK: 3 packet(s) match their SHA-256")


def test_it_reports_an_altered_packet_and_exits_with_1(policy):
    intact = factories.PacketFactory(content=packet_content(policy), policy=policy)
    altered = factories.PacketFactory(content=packet_content(policy), policy=policy)
    Packet.objects.filter(pk=altered.pk).update(content={**altered.content, "risk_level": "normal_watch"})
    err = io.StringIO()

    with pytest.raises(CommandError) as failure:
        call_command("verify_audit", stdout=io.StringIO(), stderr=err)

    assert failure.value.returncode == 1
    assert "1 problem(s) found; 2 packet(s) checked" in str(failure.value)
    report = err.getvalue()
    assert f"ALTERED: packet {altered.pk} (case {altered.case_id}, v1)" in report
    assert f"packet {intact.pk} " not in report


@pytest.mark.postgres
def test_it_reports_a_missing_append_only_trigger(policy):
    table = AuditEvent._meta.db_table
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER packets_auditevent_append_only")
        with pytest.raises(CommandError, match="1 problem"):
            call_command("verify_audit", stdout=io.StringIO(), stderr=io.StringIO())
        transaction.set_rollback(True)  # the trigger is back on after this block
    call_command("verify_audit", stdout=io.StringIO())
