"""Real servers on 127.0.0.1 for tests that talk to the outside: SMTP and HTTP.

* ``loopback_smtp``: an aiosmtpd ``Controller`` on a free port; Django's SMTP backend is pointed
  at it. ``loopback_smtp.messages`` holds what arrived (envelope and parsed email). Its handler can
  refuse (``reply``) or take its time answering each message it kept (``delay``, seconds).
* ``loopback_http``: a threaded ``http.server`` that records every request (method, path, query,
  headers, body) and answers from a script of responses (``answer(...)``, optionally after
  ``delay`` seconds, so a client's read timeout fires after the request arrived), then a default.

Use them by importing the fixtures into a test module::

    from tests.loopback import loopback_http, loopback_smtp  # noqa: F401
"""

from __future__ import annotations

import asyncio
import base64
import email
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.message import Message as EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller

# The read timeout the store stand-ins set for the product's calls. Their "hang" faults wait for a
# call to time out; every other answer (the Shopify stand-in checks each document against the Admin
# schema first) must come well within it even on a busy machine, or a read-back times out and
# parks an action the test expected to finish (seen at 0.5 s with two suites side by side).
HANG_TIMEOUT = 2.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- SMTP


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    message: EmailMessage

    @property
    def body(self) -> str:
        payload = self.message.get_payload(decode=True)
        return payload.decode(self.message.get_content_charset() or "utf-8") if payload else ""


class RecordingSMTPHandler:
    """aiosmtpd handler that keeps every message; ``reply`` can make it refuse (e.g. '550 ...'),
    ``delay`` makes it keep the message, then wait that many seconds before answering (a client
    that gives up meanwhile has still delivered it, as with a slow real server)."""

    def __init__(self):
        self.messages: list[ReceivedMail] = []
        self.reply: str | None = None
        self.delay: float = 0.0
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        if self.reply:
            return self.reply
        with self._lock:
            self.messages.append(
                ReceivedMail(
                    mail_from=envelope.mail_from,
                    rcpt_tos=list(envelope.rcpt_tos),
                    content=envelope.content,
                    message=email.message_from_bytes(envelope.content),
                )
            )
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 Message accepted for delivery"


class LoopbackSMTP:
    def __init__(self):
        self.handler = RecordingSMTPHandler()
        self.host = "127.0.0.1"
        self.port = free_port()
        self.controller = Controller(self.handler, hostname=self.host, port=self.port)

    @property
    def messages(self) -> list[ReceivedMail]:
        return self.handler.messages

    def start(self) -> LoopbackSMTP:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def loopback_smtp(settings):
    """A real SMTP server on loopback, with Django's SMTP backend pointed at it."""
    server = LoopbackSMTP().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = server.host
    settings.EMAIL_PORT = server.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- HTTP


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def form(self) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(self.body.decode()).items()}

    def json(self):
        return json.loads(self.body)

    def basic_auth(self) -> tuple[str, str] | None:
        value = self.headers.get("authorization", "")
        if not value.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        return user, password


@dataclass
class ScriptedAnswer:
    status: int
    body: bytes
    headers: dict[str, str]
    method: str | None = None
    delay: float = 0.0


@dataclass
class LoopbackHTTP:
    """Records requests; answers the first scripted answer that fits the method, else the default."""

    requests: list[RecordedRequest] = field(default_factory=list)
    default: ScriptedAnswer = field(default_factory=lambda: ScriptedAnswer(200, b"ok", {"Content-Type": "text/plain"}))

    def __post_init__(self):
        self._script: deque[ScriptedAnswer] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(
        self, status: int, body: bytes | str | dict = b"", headers: dict | None = None, *, method=None, delay=0.0
    ):
        """Queue one answer (JSON when ``body`` is a dict), given ``delay`` seconds after the request arrived."""
        headers = dict(headers or {})
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        with self._lock:
            self._script.append(ScriptedAnswer(status, body, headers, method, delay))

    def set_default(self, status: int, body: bytes | str | dict = b"", headers: dict | None = None):
        self.answer(status, body, headers)
        with self._lock:
            self.default = self._script.pop()

    def _next_answer(self, method: str) -> ScriptedAnswer:
        with self._lock:
            for answer in self._script:
                if answer.method in (None, method):
                    self._script.remove(answer)
                    return answer
            return self.default

    def start(self) -> LoopbackHTTP:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                with recorder._lock:
                    recorder.requests.append(
                        RecordedRequest(
                            method=self.command,
                            path=parts.path,
                            query=parse_qs(parts.query),
                            headers={k.lower(): v for k, v in self.headers.items()},
                            body=body,
                        )
                    )
                answer = recorder._next_answer(self.command)
                if answer.delay:
                    time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up waiting

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, format, *args):  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture
def loopback_http():
    """A real HTTP server on loopback that records requests and answers as scripted."""
    server = LoopbackHTTP().start()
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- provider stand-ins


@dataclass
class ApiRequest:
    method: str
    path: str  # without the query string
    headers: dict[str, str]  # lower-cased names
    body: bytes
    query: str = ""  # the raw query string, for stand-ins whose answers depend on it

    def basic_auth(self) -> tuple[str, str] | None:
        return RecordedRequest.basic_auth(self)


def serve_json_api(answer, release: threading.Event | None = None) -> ThreadingHTTPServer:
    """A threaded HTTP server on 127.0.0.1 for a provider's stand-in (WooCommerce, Postmark, Zendesk).

    ``answer(ApiRequest)`` returns ``(status, body, headers, hang)``: the body goes out as JSON;
    ``hang`` means the stand-in took the request and no answer comes (until ``release`` is set,
    then the connection is dropped), as when a call times out after the provider acted on it.
    """

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self):
            length = int(self.headers.get("Content-Length") or 0)
            request = ApiRequest(
                method=self.command,
                path=self.path.split("?", 1)[0],
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
                query=self.path.partition("?")[2],
            )
            status, body, headers, hang = answer(request)
            if hang:
                if release is not None:
                    release.wait(timeout=5)
                self.close_connection = True
                return
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _handle

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
