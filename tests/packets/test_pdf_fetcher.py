"""A PDF template can pull in the project's own static files and nothing else.

A real HTTP server listens on loopback and counts what reaches it; a Python audit hook watches
every file the process opens while the PDF renders.
"""

from __future__ import annotations

import copy
import http.server
import sys
import threading

import pytest
from django.conf import settings as django_settings

from packets.audit.pdf import ASSET_ORIGIN, ASSET_PREFIX, LockedFetcher, render_pdf
from tests.packets.contract_content import pdf_text

_opened: list[str] | None = None


def _watch_opens(event: str, args: tuple) -> None:
    if _opened is not None and event == "open" and args and isinstance(args[0], str | bytes):
        _opened.append(args[0] if isinstance(args[0], str) else args[0].decode(errors="replace"))


sys.addaudithook(_watch_opens)  # audit hooks cannot be removed; this one records only while a test asks


@pytest.fixture
def opened_files():
    global _opened
    _opened = []
    try:
        yield _opened
    finally:
        _opened = None


@pytest.fixture
def loopback_server():
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = b"body { background: red }"
            self.send_response(200)
            self.send_header("Content-Type", "text/css")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()
    server.server_close()


@pytest.fixture
def template_dir(tmp_path, settings):
    templates = copy.deepcopy(django_settings.TEMPLATES)
    templates[0]["DIRS"] = [tmp_path, *templates[0]["DIRS"]]
    settings.TEMPLATES = templates
    return tmp_path


HOSTILE = """{% load print_format %}<!doctype html>
<html><head>
<style>@import url("ORIGIN/imported.css");</style>
<link rel="stylesheet" href="ORIGIN/x.css">
<link rel="stylesheet" href="file:///etc/passwd">
<link rel="stylesheet" href="../../../etc/passwd">
<link rel="stylesheet" href="{% pdf_static 'css/print.css' %}">
<link rel="attachment" href="file:///etc/passwd">
<style>
  body { background: url(ORIGIN/bg.png); }
  h1 { background-image: url("file:///etc/passwd"); }
  @font-face { font-family: Sneaky; src: url(ORIGIN/font.woff) format("woff"), url(file:///etc/passwd); }
  p { font-family: Sneaky, sans-serif; }
</style>
</head><body>
<h1>Rendered without fetching</h1>
<img src="file:///etc/passwd" alt="">
<img src="ORIGIN/pixel.png" alt="">
<img src="/static/../../../../etc/passwd" alt="">
<img alt=""
  src="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'%3E%3Cimage href='file:///etc/passwd'/%3E%3C/svg%3E">
<object data="ORIGIN/object"></object>
<p>Body text stays.</p>
</body></html>
"""


@pytest.mark.django_db
def test_it_renders_without_fetching_files_or_network_urls(template_dir, loopback_server, opened_files):
    origin, hits = loopback_server
    (template_dir / "hostile.html").write_text(HOSTILE.replace("ORIGIN", origin))
    fetcher = LockedFetcher()

    pdf = render_pdf("hostile.html", {}, fetcher=fetcher)

    assert hits == [], "the loopback server must not receive a single request"
    assert not [path for path in opened_files if "passwd" in path]
    assert any(path.endswith("css/print.css") for path in opened_files), "the hook does see what is opened"
    assert pdf.startswith(b"%PDF-")
    assert "Rendered without fetching" in pdf_text(pdf)
    refused = set(fetcher.refused)
    assert f"{origin}/x.css" in refused and f"{origin}/imported.css" in refused
    assert f"{origin}/bg.png" in refused and f"{origin}/pixel.png" in refused
    assert f"{origin}/font.woff" in refused
    assert "file:///etc/passwd" in refused
    # Relative and dot-dot paths resolve onto the private origin and are refused there.
    assert f"{ASSET_ORIGIN}/etc/passwd" in refused
    assert not any("print.css" in url for url in refused), "the project's own stylesheet is served"


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "http://127.0.0.1/",
        "https://example.com/static/css/print.css",
        "data:text/css,body{}",
        f"{ASSET_PREFIX}../../etc/passwd",
        f"{ASSET_PREFIX}css/../../../etc/passwd",
        f"{ASSET_PREFIX}%2e%2e/%2e%2e/etc/passwd",
        f"{ASSET_PREFIX}/etc/passwd",
        f"{ASSET_PREFIX}css/print.css?x=../../etc/passwd",
        f"{ASSET_PREFIX}js/app.js",  # ours, but not a kind of file a PDF needs
        f"{ASSET_PREFIX}css/missing.css",
    ],
)
def test_it_refuses_anything_but_the_projects_static_assets(url):
    fetcher = LockedFetcher()
    with pytest.raises(ValueError, match="Refused"):
        fetcher.fetch(url)
    assert fetcher.refused == [url]


def test_it_serves_the_projects_print_stylesheet():
    response = LockedFetcher().fetch(f"{ASSET_PREFIX}css/print.css")
    assert response.content_type == "text/css"
    assert b"@page" in response.read()
