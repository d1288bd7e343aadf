"""A loopback stand-in for Zendesk's Tickets API, keeping its idempotency rules.

``POST /api/v2/tickets`` answers as Zendesk's documentation shows: 201 with the ticket; with an
``Idempotency-Key`` it has seen and the same body, the stored answer again with
``x-zendesk-idempotency-lookup: hit`` (``miss`` the first time); the same key with another body,
400 ``IdempotentRequestError``; no valid bearer token, 401. Scripted faults: 429 with
``Retry-After``, 500, 422 ``RecordInvalid``, and ``hang`` (the ticket is made, then no answer
comes: a timeout after the request was taken). ``GET /api/v2/users/me.json`` names the token's user.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import ThreadingHTTPServer

import pytest

from tests.loopback import serve_json_api

TOKEN = "zd-oauth-access-token-test"


class FakeZendesk:
    def __init__(self, token: str = TOKEN):
        self.token = token
        self.base = ""
        self.tickets: list[dict] = []
        self.requests: list[dict] = []
        self.keys: dict[str, tuple[str, int, dict]] = {}
        self.faults: deque[tuple[str, dict]] = deque()
        self.release = threading.Event()
        self._lock = threading.Lock()

    def fail_next(self, mode: str, **extra) -> None:
        """mode: 429 (``retry_after``), 500, invalid (422), hang."""
        self.faults.append((mode, extra))

    def answer(self, method: str, path: str, headers: dict, raw: bytes) -> tuple[int, dict, dict, bool]:
        with self._lock:
            self.requests.append({"method": method, "path": path, "headers": headers, "body": raw})
            if headers.get("authorization") != f"Bearer {self.token}":
                return 401, {"error": "Couldn't authenticate you"}, {}, False
            if method == "GET" and path == "/api/v2/users/me.json":
                return 200, {"user": {"id": 1, "email": "desk@example.zendesk.com"}}, {}, False
            if (method, path) != ("POST", "/api/v2/tickets"):
                return 404, {"error": "InvalidEndpoint", "description": "Not found"}, {}, False
            key = headers.get("idempotency-key")
            if key and key in self.keys:
                body, status, answer = self.keys[key]
                if body != raw.decode():
                    return (
                        400,
                        {
                            "error": "IdempotentRequestError",
                            "description": "Request parameters do not match the original request for this key",
                        },
                        {},
                        False,
                    )
                return status, answer, {"x-zendesk-idempotency-lookup": "hit"}, False
            mode, extra = self.faults.popleft() if self.faults else ("", {})
            if mode == "429":
                return 429, {"error": "APIRateLimitExceeded"}, {"Retry-After": str(extra.get("retry_after", 60))}, False
            if mode == "500":
                return 500, {"error": "InternalServerError"}, {}, False
            if mode == "invalid":
                details = {"requester": [{"description": "Requester: Email is not properly formatted"}]}
                return (
                    422,
                    {"error": "RecordInvalid", "description": "Record validation errors", "details": details},
                    {},
                    False,
                )
            ticket = json.loads(raw)["ticket"]
            number = 4000 + len(self.tickets) + 1
            made = {
                "id": number,
                "url": f"{self.base}/api/v2/tickets/{number}.json",
                "status": "new",
                "subject": ticket["subject"],
                "priority": ticket.get("priority"),
                "tags": ticket.get("tags", []),
                "external_id": ticket.get("external_id"),
            }
            self.tickets.append({**made, "comment": ticket["comment"]})
            answer = {"ticket": made}
            if key:
                self.keys[key] = (raw.decode(), 201, answer)
            return 201, answer, {"x-zendesk-idempotency-lookup": "miss"} if key else {}, mode == "hang"


def serve_zendesk(fake: FakeZendesk) -> ThreadingHTTPServer:
    return serve_json_api(lambda r: fake.answer(r.method, r.path, r.headers, r.body), fake.release)


@pytest.fixture
def zendesk(settings):
    fake = FakeZendesk()
    server = serve_zendesk(fake)
    host, port = server.server_address[:2]
    fake.base = f"http://{host}:{port}"
    settings.ZENDESK_URL = fake.base
    settings.ZENDESK_OAUTH_TOKEN = TOKEN
    settings.NOTIFY_READ_TIMEOUT = 0.5
    try:
        yield fake
    finally:
        fake.release.set()
        server.shutdown()
        server.server_close()
