"""The add_user command: how a store creates its owner and support logins on a real install."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from backorders.roles import is_owner, is_staff_member

pytestmark = pytest.mark.django_db


PASSPHRASE = "a-long-store-passphrase"  # a test login


def add_user(monkeypatch, *args, password=PASSPHRASE):
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    out = io.StringIO()
    call_command("add_user", *args, "--password-stdin", stdout=out)
    return out.getvalue()


def test_creates_an_owner_who_can_sign_in_and_use_the_admin(monkeypatch, client):
    assert "Created alice (Owner)" in add_user(monkeypatch, "alice", "--role", "owner", "--email", "a@shop.example")
    alice = get_user_model().objects.get(username="alice")
    assert is_owner(alice) and alice.is_staff and alice.email == "a@shop.example"
    assert client.login(username="alice", password="a-long-store-passphrase")
    assert client.get("/admin/").status_code == 200


def test_support_is_staff_member_but_not_owner_nor_admin(monkeypatch, client):
    add_user(monkeypatch, "bob", "--role", "support")
    bob = get_user_model().objects.get(username="bob")
    assert is_staff_member(bob) and not is_owner(bob) and not bob.is_staff
    client.login(username="bob", password="a-long-store-passphrase")
    assert client.get("/admin/").status_code == 302  # the admin sends non-staff to its login


def test_running_again_changes_the_role_and_keeps_one_group(monkeypatch):
    add_user(monkeypatch, "carol", "--role", "owner")
    call_command("add_user", "carol", "--role", "support", "--keep-password", stdout=io.StringIO())
    carol = get_user_model().objects.get(username="carol")
    assert list(carol.groups.values_list("name", flat=True)) == ["Support"]
    assert not carol.is_superuser and carol.check_password("a-long-store-passphrase")


@pytest.mark.parametrize(
    ("password", "reason"), [("short", "too short"), ("12345678901", "entirely numeric"), ("", "No password")]
)
def test_weak_or_missing_password_is_refused_and_nothing_is_written(monkeypatch, password, reason):
    with pytest.raises(CommandError, match=reason):
        add_user(monkeypatch, "dave", "--role", "owner", password=password)
    assert not get_user_model().objects.filter(username="dave").exists()
