"""A loopback stand-in for Slack's Web API and a signer for Slack's interaction posts.

``POST /auth.test`` names the bot and its team. ``/chat.postMessage``, ``/chat.update`` and
``/chat.postEphemeral`` answer as Slack's
reference shows: HTTP 200 with ``{"ok": true, ...}`` (``channel`` and ``ts`` of the message;
``message_ts`` for an ephemeral one), or HTTP 200 with ``{"ok": false, "error": ...}``:
``not_authed`` without a bearer token, ``invalid_auth`` with another token, ``channel_not_found``
without a channel, ``message_not_found`` for an update of a message it never posted,
``no_text`` with neither text nor blocks. Scripted faults: ``ratelimited`` (HTTP 429 with
``Retry-After``) and ``internal_error`` (HTTP 500).

``signed_press(...)`` builds an interaction post (``payload=<json>`` form body) and its
``X-Slack-Signature`` / ``X-Slack-Request-Timestamp`` headers with slack-sdk's own signer.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier

from tests.loopback import serve_json_api

TOKEN = "xoxb-test-bot-token"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
OWNER_CHANNEL = "C0OWNERS01"
METHODS = ("auth.test", "chat.postMessage", "chat.update", "chat.postEphemeral")


class FakeSlack:
    def __init__(self, token: str = TOKEN):
        self.token = token
        self.calls: list[dict] = []  # {"method", "headers", "body"} for every call that reached it
        self.messages: dict[tuple[str, str], dict] = {}  # (channel, ts) -> the message as it stands
        self.ephemeral: list[dict] = []
        self.faults: deque[tuple[str, dict]] = deque()
        self._lock = threading.Lock()
        self._clock = 1_765_000_000

    def fail_next(self, mode: str, **extra) -> None:
        """mode: ratelimited (429, ``retry_after``), internal_error (500)."""
        self.faults.append((mode, extra))

    def calls_to(self, method: str) -> list[dict]:
        return [c for c in self.calls if c["method"] == method]

    def _ts(self) -> str:
        self._clock += 1
        return f"{self._clock}.000{len(self.calls):03d}"

    def answer(self, request) -> tuple[int, dict, dict, bool]:
        method = request.path.lstrip("/")
        with self._lock:
            body = json.loads(request.body or b"{}") if request.body else {}
            self.calls.append({"method": method, "headers": request.headers, "body": body})
            if request.method != "POST" or method not in METHODS:
                return 404, {"ok": False, "error": "unknown_method"}, {}, False
            auth = request.headers.get("authorization", "")
            if not auth:
                return 200, {"ok": False, "error": "not_authed"}, {}, False
            if auth != f"Bearer {self.token}":
                return 200, {"ok": False, "error": "invalid_auth"}, {}, False
            if not request.headers.get("content-type", "").startswith("application/json"):
                return 200, {"ok": False, "error": "invalid_arguments"}, {}, False
            mode, extra = self.faults.popleft() if self.faults else ("", {})
            if mode == "ratelimited":
                return (
                    429,
                    {"ok": False, "error": "ratelimited"},
                    {"Retry-After": str(extra.get("retry_after", 30))},
                    False,
                )
            if mode == "internal_error":
                return 500, {"ok": False, "error": "internal_error"}, {}, False
            if method == "auth.test":
                team = {"team": "Store", "team_id": "T0STORE01", "url": "https://store.slack.com/"}
                return 200, {"ok": True, **team, "user": "backorder_desk", "user_id": "U0BOT0001"}, {}, False
            channel = body.get("channel")
            if not channel:
                return 200, {"ok": False, "error": "channel_not_found"}, {}, False
            if not body.get("text") and not body.get("blocks"):
                return 200, {"ok": False, "error": "no_text"}, {}, False
            if method == "chat.postMessage":
                ts = self._ts()
                message = {"type": "message", "subtype": "bot_message", "text": body.get("text", ""), "ts": ts}
                message["blocks"] = body.get("blocks") or []
                self.messages[(channel, ts)] = message
                return 200, {"ok": True, "channel": channel, "ts": ts, "message": message}, {}, False
            if method == "chat.update":
                key = (channel, body.get("ts"))
                if key not in self.messages:
                    return 200, {"ok": False, "error": "message_not_found"}, {}, False
                self.messages[key].update(text=body.get("text", ""), blocks=body.get("blocks") or [])
                return 200, {"ok": True, "channel": channel, "ts": key[1], "text": body.get("text", "")}, {}, False
            if not body.get("user"):
                return 200, {"ok": False, "error": "user_not_in_channel"}, {}, False
            self.ephemeral.append(body)
            return 200, {"ok": True, "message_ts": self._ts()}, {}, False


@pytest.fixture
def slack(settings):
    """Slack's Web API on loopback, with the desk's Slack settings pointed at it."""
    fake = FakeSlack()
    server = serve_json_api(fake.answer)
    host, port = server.server_address[:2]
    settings.SLACK_API_URL = f"http://{host}:{port}"
    settings.SLACK_BOT_TOKEN = TOKEN
    settings.SLACK_SIGNING_SECRET = SIGNING_SECRET
    settings.SLACK_OWNER_CHANNEL = OWNER_CHANNEL
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def press_payload(alert: dict, *, slack_user_id: str, channel: str, ts: str, action_ts: str = "") -> dict:
    """The ``block_actions`` payload Slack posts when "Accept recommendation" on ``alert`` is pressed."""
    [button] = [
        element
        for block in alert["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == "accept_recommendation"
    ]
    return {
        "type": "block_actions",
        "team": {"id": "T0STORE01", "domain": "store"},
        "user": {"id": slack_user_id, "username": "someone", "name": "someone", "team_id": "T0STORE01"},
        "api_app_id": "A0DESK01",
        "token": "verification-token-unused",
        "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False},
        "trigger_id": f"1337.{action_ts or time.time()}",
        "channel": {"id": channel, "name": "owner"},
        "message": {"type": "message", "ts": ts, "text": alert["text"], "blocks": alert["blocks"]},
        "response_url": "https://hooks.slack.com/actions/T0STORE01/1/unused",
        "actions": [
            {
                "action_id": "accept_recommendation",
                "block_id": "case",
                "text": {"type": "plain_text", "text": "Accept recommendation"},
                "value": button["value"],
                "style": "primary",
                "type": "button",
                "action_ts": action_ts or f"{time.time():.6f}",
            }
        ],
    }


def signed_press(payload: dict, *, secret: str = SIGNING_SECRET, at: float | None = None) -> tuple[bytes, dict]:
    """The form body Slack posts and its signed headers (as Django's test client takes them)."""
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(at if at is not None else time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    return body, {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}
