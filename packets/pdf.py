"""PDF rendering from HTML templates, with a fetcher that can read nothing but our own assets.

Templates refer to assets as ``{% static '...' %}``; the document's base URL is a private
origin that exists nowhere, and the fetcher maps only that origin's static paths to files the
staticfiles finders know. ``file:``, ``http(s):`` and everything else is refused.
"""

from __future__ import annotations

import mimetypes

from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

ASSET_ORIGIN = "https://assets.backorder-desk.invalid"


class RefusedFetch(ValueError):
    pass


class LockedFetcher(URLFetcher):
    """Serves the project's static files; refuses every other URL without touching disk or network."""

    def __init__(self):
        super().__init__(allowed_protocols=["https"], allow_redirects=False)
        self.refused: list[str] = []

    def fetch(self, url, headers=None):
        prefix = f"{ASSET_ORIGIN}/{settings.STATIC_URL.strip('/')}/"
        if url.startswith(prefix):
            relative = url[len(prefix) :].split("?")[0].split("#")[0]
            if ".." not in relative.split("/"):
                path = finders.find(relative)
                if path:
                    with open(path, "rb") as handle:
                        body = handle.read()
                    mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
                    return URLFetcherResponse(url, body=body, headers={"Content-Type": mime})
        self.refused.append(url)
        raise RefusedFetch(f"Refused to fetch {url!r}: PDFs may only use the project's own static files")


def render_pdf(template_name: str, context: dict) -> bytes:
    """Render a template to PDF bytes."""
    html = render_to_string(template_name, context)
    return HTML(string=html, base_url=f"{ASSET_ORIGIN}/", url_fetcher=LockedFetcher()).write_pdf()
