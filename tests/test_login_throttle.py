"""Sign-in throttling: a real brute force through the login page, per username and per address.

Each attempt is a POST of the login form through the test client with CSRF checked, the way a
browser or a script would send it. The hasher is the fast test one; nothing else is stood in for.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone

from packets.models import AuditEvent
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

PASSWORD = "correct horse battery staple"  # the factories' password


def attempt(visitor: Client, username: str, password: str, address: str = "203.0.113.7"):
    visitor.get("/accounts/login/", REMOTE_ADDR=address)
    token = visitor.cookies["csrftoken"].value
    return visitor.post(
        "/accounts/login/",
        {"csrfmiddlewaretoken": token, "username": username, "password": password},
        REMOTE_ADDR=address,
    )


def signed_in(visitor: Client) -> bool:
    return "_auth_user_id" in visitor.session


@pytest.fixture
def olivia(db):
    return factories.UserFactory(username="olivia")


def test_300_wrong_passwords_then_the_right_one_is_refused(settings, olivia):
    visitor = Client(enforce_csrf_checks=True)
    answers = [attempt(visitor, "olivia", f"guess-{n}").status_code for n in range(300)]

    limit = settings.LOGIN_FAILURE_LIMIT
    assert answers[: limit - 1] == [200] * (limit - 1)  # the form again, "Please enter a correct..."
    assert set(answers[limit - 1 :]) == {429}
    right = attempt(visitor, "olivia", PASSWORD)
    assert right.status_code == 429 and not signed_in(visitor)
    assert b"too many login attempts" in right.content.lower()

    # one audit row for the lockout, not 300; one counted row of failures that stopped at the limit
    lockouts = AuditEvent.objects.filter(action="auth.locked_out")
    assert lockouts.count() == 1
    assert lockouts.get().data["username"] == "olivia" and lockouts.get().data["failures"] == limit
    assert AuditEvent.objects.count() == 1
    assert list(AccessAttempt.objects.values_list("failures_since_start", flat=True)) == [limit]

    # after the cool-off the right password works, and the count starts again
    with time_machine.travel(timezone.now() + timedelta(minutes=settings.LOGIN_COOLOFF_MINUTES, seconds=5)):
        fresh = Client(enforce_csrf_checks=True)
        assert attempt(fresh, "olivia", PASSWORD).status_code == 302 and signed_in(fresh)
    assert not AccessAttempt.objects.exists()


def test_a_username_is_locked_whatever_address_the_guesses_come_from(settings, olivia):
    settings.LOGIN_FAILURE_LIMIT = settings.AXES_FAILURE_LIMIT = 5
    for n in range(5):
        attempt(Client(enforce_csrf_checks=True), "olivia", "wrong", address=f"198.51.100.{n + 1}")
    fresh = Client(enforce_csrf_checks=True)
    assert attempt(fresh, "olivia", PASSWORD, address="192.0.2.99").status_code == 429
    assert not signed_in(fresh)


def test_an_address_is_locked_whatever_usernames_it_tries(settings, olivia):
    settings.LOGIN_FAILURE_LIMIT = settings.AXES_FAILURE_LIMIT = 5
    visitor = Client(enforce_csrf_checks=True)
    for n in range(5):
        attempt(visitor, f"user{n}", "wrong", address="203.0.113.50")
    assert attempt(visitor, "olivia", PASSWORD, address="203.0.113.50").status_code == 429
    # olivia from her own address is not affected
    other = Client(enforce_csrf_checks=True)
    assert attempt(other, "olivia", PASSWORD, address="192.0.2.10").status_code == 302
    lockout = AuditEvent.objects.get(action="auth.locked_out")
    assert lockout.data["ip"] == "203.0.113.50"


def test_behind_the_proxy_the_address_the_proxy_saw_is_throttled(settings, olivia):
    """Every request comes from the proxy; a forged X-Forwarded-For entry does not dodge the count."""
    settings.LOGIN_FAILURE_LIMIT = settings.AXES_FAILURE_LIMIT = 3
    settings.BEHIND_TLS_PROXY = True
    visitor = Client(enforce_csrf_checks=True)
    for n in range(3):
        visitor.get("/accounts/login/")
        visitor.post(
            "/accounts/login/",
            {"csrfmiddlewaretoken": visitor.cookies["csrftoken"].value, "username": f"u{n}", "password": "x"},
            REMOTE_ADDR="127.0.0.1",
            HTTP_X_FORWARDED_FOR=f"10.9.9.{n}, 198.51.100.23",
        )
    assert AuditEvent.objects.get(action="auth.locked_out").data["ip"] == "198.51.100.23"
    neighbour = Client(enforce_csrf_checks=True)
    neighbour.get("/accounts/login/")
    answer = neighbour.post(
        "/accounts/login/",
        {"csrfmiddlewaretoken": neighbour.cookies["csrftoken"].value, "username": "olivia", "password": PASSWORD},
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="198.51.100.24",
    )
    assert answer.status_code == 302  # another visitor behind the same proxy signs in


def test_the_admin_login_is_throttled_too(settings, django_user_model):
    settings.LOGIN_FAILURE_LIMIT = settings.AXES_FAILURE_LIMIT = 3
    django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    visitor = Client()
    for _ in range(3):
        visitor.post("/admin/login/", {"username": "root", "password": "wrong"}, REMOTE_ADDR="203.0.113.9")
    answer = visitor.post("/admin/login/", {"username": "root", "password": PASSWORD}, REMOTE_ADDR="203.0.113.9")
    assert answer.status_code == 429 and not signed_in(visitor)
