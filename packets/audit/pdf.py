"""PDF rendering from HTML templates, with a fetcher that can read nothing but our own assets.

PDF templates refer to assets with ``{% pdf_static 'css/print.css' %}`` (from the
``print_format`` tag library), which yields a URL on a private origin that exists nowhere.
The fetcher maps only that origin's ``/static/`` paths to files the staticfiles finders know,
with a short list of asset types. ``file:``, ``http(s):``, ``data:`` and everything else is
refused without touching the disk or the network; fonts come from fontconfig (system fonts
installed by Debian packages), never from a URL.
"""

from __future__ import annotations

import logging

# WeasyPrint narrates every step (from its import on) at INFO; the log only needs its warnings.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)

import mimetypes  # noqa: E402
import re  # noqa: E402
from functools import cache  # noqa: E402
from pathlib import Path  # noqa: E402

from django.contrib.staticfiles import finders  # noqa: E402
from django.template.loader import render_to_string  # noqa: E402
from weasyprint import CSS, HTML, Document  # noqa: E402
from weasyprint.text.fonts import FontConfiguration  # noqa: E402
from weasyprint.urls import URLFetcher, URLFetcherResponse  # noqa: E402

logger = logging.getLogger(__name__)

ASSET_ORIGIN = "https://assets.backorder-desk.invalid"
ASSET_PREFIX = f"{ASSET_ORIGIN}/static/"

# What a print template may pull in: stylesheets, images and fonts, by extension.
ALLOWED_SUFFIXES = frozenset({".css", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".woff", ".woff2", ".ttf", ".otf"})
# A plain relative path: no scheme, no leading slash, no "..", no escapes, no query tricks.
_SAFE_RELATIVE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*$")


class RefusedFetch(ValueError):
    pass


def asset_url(relative: str) -> str:
    """The URL a PDF template uses for one of the project's static files."""
    return ASSET_PREFIX + relative.lstrip("/")


def _static_file(url: str) -> Path | None:
    """The file behind an asset URL, or None when the URL is not one of our static assets."""
    if not url.startswith(ASSET_PREFIX):
        return None
    relative = url[len(ASSET_PREFIX) :]
    if not _SAFE_RELATIVE.match(relative) or ".." in relative.split("/"):
        return None
    if Path(relative).suffix.lower() not in ALLOWED_SUFFIXES:
        return None
    found = finders.find(relative)
    if not found:
        return None
    return Path(found).resolve()


class LockedFetcher(URLFetcher):
    """Serves the project's static files; refuses every other URL without touching disk or network.

    ``refused`` lists what a render asked for and did not get, for tests and for the log.
    """

    def __init__(self):
        super().__init__(allowed_protocols=["https"], allow_redirects=False)
        self.refused: list[str] = []

    def fetch(self, url, headers=None):
        path = _static_file(url)
        if path is None:
            self.refused.append(url)
            logger.warning("PDF render refused to fetch %r", url[:200])
            raise RefusedFetch(f"Refused to fetch {url[:200]!r}: PDFs may only use the project's own static files")
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, body=path.read_bytes(), headers={"Content-Type": mime})

    def open(self, url, data=None, timeout=None):
        # urllib's opener entry point: never let it reach a handler.
        return self.fetch(getattr(url, "full_url", url))


# The printed documents' stylesheet, given to the renderer rather than linked from the template.
PRINT_STYLESHEET = "css/print.css"


@cache
def static_bytes(relative: str) -> bytes:
    """One of the project's static files, as the fetcher serves it (read once per process)."""
    return LockedFetcher().fetch(asset_url(relative)).read()


@cache
def print_stylesheet() -> tuple[CSS, FontConfiguration]:
    """The print stylesheet, parsed once per process (through the locked fetcher), and its fonts.

    Parsing it took a fifth of a packet's render; the parsed rules and the font configuration
    are the same for every document, so each render reuses them.
    """
    fonts = FontConfiguration()
    return CSS(url=asset_url(PRINT_STYLESHEET), url_fetcher=LockedFetcher(), font_config=fonts), fonts


def render_html_document(html: str, *, fetcher: LockedFetcher | None = None, styled: bool = False) -> Document:
    """Lay HTML out as pages; ``styled`` adds the print stylesheet (parsed once per process)."""
    page = HTML(string=html, base_url=ASSET_PREFIX, url_fetcher=fetcher or LockedFetcher())
    if not styled:
        return page.render()
    stylesheet, fonts = print_stylesheet()
    return page.render(stylesheets=[stylesheet], font_config=fonts)


def render_document(
    template_name: str, context: dict, *, fetcher: LockedFetcher | None = None, styled: bool = False
) -> Document:
    """Lay a template out as pages (for merging several into one file)."""
    return render_html_document(render_to_string(template_name, context), fetcher=fetcher, styled=styled)


def render_pdf(
    template_name: str, context: dict, *, fetcher: LockedFetcher | None = None, styled: bool = False
) -> bytes:
    """Render a template to PDF bytes; ``styled`` for templates built on ``packets/pdf/base.html``."""
    return render_document(template_name, context, fetcher=fetcher, styled=styled).write_pdf()


def merge_documents(documents: list[Document]) -> bytes:
    """One PDF holding every page of ``documents`` in order; each keeps its own page numbers."""
    if not documents:
        raise ValueError("Nothing to merge")
    pages = [page for document in documents for page in document.pages]
    return documents[0].copy(pages).write_pdf()
