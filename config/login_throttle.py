"""Sign-in throttling with django-axes: per username and per client address, with a cool-off.

``LOGIN_FAILURE_LIMIT`` failed sign-ins for one username (from anywhere), or from one address
(for any username), lock that username or address out for ``LOGIN_COOLOFF_MINUTES``; the right
password is refused too until then. Failures are counted in one axes row per username, address
and browser, which stops growing once locked out; the audit trail gets one row per lockout
(``packets.signals``), never one per attempt.
"""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import HttpRequest


class ThrottledLogins(AxesStandaloneBackend):
    """Axes' check, for sign-ins that come over HTTP. ``authenticate()`` called without a request
    (a management command, a test client's ``login``) is nobody guessing passwords over the
    network, so it is not throttled; axes itself would refuse it outright."""

    def authenticate(self, request: HttpRequest | None, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def client_ip(request: HttpRequest) -> str:
    """The visitor's address. Behind the TLS proxy (``BEHIND_TLS_PROXY``) every request comes from
    the proxy, so the address the proxy saw is taken: the last entry of X-Forwarded-For, the one
    the proxy appended itself (entries before it come from the client and can be forged)."""
    if settings.BEHIND_TLS_PROXY:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if forwarded and forwarded[-1]:
            return forwarded[-1]
    return request.META.get("REMOTE_ADDR", "")
