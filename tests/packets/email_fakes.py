"""A loopback stand-in for Postmark's Email API (``POST /email``), and the tracking webhook
payloads Postmark documents (Delivery, Bounce, SpamComplaint), for the email-provider tests.

The server answers as Postmark's API reference shows: 200 with ``MessageID`` and
``ErrorCode: 0``; 401 ``ErrorCode 10`` without the right ``X-Postmark-Server-Token``; 422
``ErrorCode 406`` for an inactive recipient; 500 on a scripted fault.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from http.server import ThreadingHTTPServer

import pytest

from tests.loopback import serve_json_api

SERVER_TOKEN = "pm-server-token-test"
WEBHOOK_AUTH = ("postmark-hooks", "s3cret-basic-auth")


class FakePostmark:
    def __init__(self, token: str = SERVER_TOKEN):
        self.token = token
        self.sent: list[dict] = []
        self.faults: deque[str] = deque()
        self._lock = threading.Lock()

    def fail_next(self, mode: str) -> None:
        """mode: inactive (422 ErrorCode 406), 500, slow (takes the message, answers after 1.5 s)."""
        self.faults.append(mode)

    def answer(self, path: str, token: str, body: dict) -> tuple[int, dict]:
        with self._lock:
            if path != "/email":
                return 404, {"ErrorCode": 404, "Message": "Not found"}
            if token != self.token:
                return 401, {"ErrorCode": 10, "Message": "Request does not contain a valid Server token."}
            fault = self.faults.popleft() if self.faults else None
            if fault == "500":
                return 500, {"ErrorCode": 500, "Message": "Internal server error."}
            if fault == "inactive":
                return 422, {
                    "ErrorCode": 406,
                    "Message": (
                        "You tried to send to recipient(s) that have been marked as inactive. Found inactive "
                        f"addresses: {body['To']}. Inactive recipients are ones that have generated a hard bounce, "
                        "a spam complaint, or a manual suppression."
                    ),
                }
            message_id = str(uuid.uuid4())
            self.sent.append({**body, "MessageID": message_id})
        if fault == "slow":
            time.sleep(1.5)
        return 200, {
            "To": body["To"],
            "SubmittedAt": "2026-11-18T10:00:00.0000000-05:00",
            "MessageID": message_id,
            "ErrorCode": 0,
            "Message": "OK",
        }


def serve_postmark(fake: FakePostmark) -> ThreadingHTTPServer:
    def answer(request):
        body = json.loads(request.body or b"{}")
        status, data = fake.answer(request.path, request.headers.get("x-postmark-server-token", ""), body)
        return status, data, {}, False

    return serve_json_api(answer)


@pytest.fixture
def postmark(settings):
    """Postmark through django-anymail, pointed at the loopback stand-in; webhooks take basic auth."""
    fake = FakePostmark()
    server = serve_postmark(fake)
    host, port = server.server_address[:2]
    settings.EMAIL_PROVIDER = "postmark"
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {
        "POSTMARK_SERVER_TOKEN": SERVER_TOKEN,
        "POSTMARK_API_URL": f"http://{host}:{port}/",
        "WEBHOOK_SECRET": [":".join(WEBHOOK_AUTH)],
        "REQUESTS_TIMEOUT": (2, 5),
    }
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- webhook payloads (Postmark's docs)


def delivery(message_id: str, email: str) -> dict:
    return {
        "RecordType": "Delivery",
        "ServerID": 23,
        "MessageStream": "outbound",
        "MessageID": message_id,
        "Recipient": email,
        "Tag": "",
        "DeliveredAt": "2026-11-18T15:01:02Z",
        "Details": "Test delivery webhook details",
        "Metadata": {},
    }


def bounce(message_id: str, email: str) -> dict:
    return {
        "RecordType": "Bounce",
        "MessageStream": "outbound",
        "ID": 4323372036854775807,
        "Type": "HardBounce",
        "TypeCode": 1,
        "Name": "Hard bounce",
        "Tag": "",
        "MessageID": message_id,
        "Metadata": {},
        "ServerID": 23,
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": f"smtp;550 5.1.1 <{email}>: The email account that you tried to reach does not exist.",
        "Email": email,
        "From": "orders@example.com",
        "BouncedAt": "2026-11-18T15:02:03Z",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "An update on your order",
    }


def spam_complaint(message_id: str, email: str) -> dict:
    return {
        "RecordType": "SpamComplaint",
        "MessageStream": "outbound",
        "ID": 42,
        "Type": "SpamComplaint",
        "TypeCode": 512,
        "Name": "Spam complaint",
        "Tag": "",
        "MessageID": message_id,
        "Metadata": {},
        "ServerID": 23,
        "Description": "The subscriber explicitly marked this message as spam.",
        "Details": "Test spam complaint details",
        "Email": email,
        "From": "orders@example.com",
        "BouncedAt": "2026-11-18T15:03:04Z",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": False,
        "Subject": "An update on your order",
    }
