import pytest
from django.db import DatabaseError, connection, transaction

from packets.models import AuditEvent


@pytest.mark.django_db
def test_it_refuses_to_edit_or_delete_an_audit_event_in_the_application(owner):
    event = AuditEvent.record("test.action", actor=owner, summary="hello")
    event.summary = "rewritten"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).update(summary="rewritten")
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).summary == "hello"


@pytest.mark.postgres
@pytest.mark.django_db
def test_it_is_refused_by_postgresql_itself_when_sql_bypasses_the_application(owner):
    event = AuditEvent.record("test.action", actor=owner, summary="original")
    table = AuditEvent._meta.db_table
    for sql in [f"UPDATE {table} SET summary = 'forged' WHERE id = %s", f"DELETE FROM {table} WHERE id = %s"]:
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).summary == "original"


@pytest.mark.django_db
def test_it_records_sign_ins_but_not_each_failed_sign_in(client, owner):
    """Failed sign-ins are counted by the login throttle; the trail gets a row per lockout only
    (tests/test_login_throttle.py)."""
    assert client.login(username="olivia", password="correct horse battery staple")
    assert not client.login(username="olivia", password="wrong")
    actions = list(AuditEvent.objects.order_by("id").values_list("action", "actor_label"))
    assert actions == [("auth.login", "olivia")]
