"""Requests refused before any view or middleware reads them: a clear 400 instead of a crash.

Django refuses a form body in a charset other than UTF-8 and a multipart body without a valid
boundary when something first reads ``request.POST``; when that something is the CSRF check of
the error page itself, the refusal turns into a 500. A NUL byte in the query string reaches
PostgreSQL (an admin changelist filter, a queue filter) and fails there. Each is answered here,
from the headers and the URL alone, before the body is read.
"""

from __future__ import annotations

import codecs
import logging

from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParser
from django.utils.cache import add_never_cache_headers
from django.utils.http import parse_header_parameters

logger = logging.getLogger("config.requests")

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


def request_problem(request: HttpRequest) -> str:
    """Why the request cannot be read safely; empty when it can."""
    query = request.META.get("QUERY_STRING", "")
    if "\x00" in request.path or "%00" in query or "\x00" in query:
        return "the address contains a NUL character"
    declared = request.META.get("CONTENT_TYPE", "")
    if not declared:
        return ""
    content_type, params = parse_header_parameters(declared)
    charset = params.get("charset")
    if charset:
        try:
            codecs.lookup(charset)
        except LookupError:
            return f"charset {charset!r} is not a known encoding"
    if content_type == FORM and charset and charset.lower() != "utf-8":
        return f"a form body must be UTF-8, not {charset!r}"
    if content_type == MULTIPART:
        boundary = params.get("boundary")
        if not boundary or not MultiPartParser.boundary_re.fullmatch(boundary):
            return "a multipart body needs a valid boundary in its Content-Type"
    return ""


class RefuseUnreadableRequests:
    """First in the chain (after SecurityMiddleware): answers 400 with the reason, as plain text."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem = request_problem(request)
        if problem:
            logger.warning("Refused %s %s: %s", request.method, request.path.replace("\x00", "\\x00"), problem)
            return HttpResponse(f"Bad request: {problem}.", status=400, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class NoStoreForSignedInPages:
    """``Cache-Control: no-store`` (with ``private, no-cache``) on every answer to a signed-in
    person: cases, customers' details, PDFs and exports must stay out of shared and browser caches
    once someone signs out. The customer's own page says so itself (``never_cache``)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and "no-store" not in response.get("Cache-Control", ""):
            add_never_cache_headers(response)
        return response
