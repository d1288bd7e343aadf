"""Request bodies bounded before they are read, and uploads never spooled to disk.

``RequestLimitsMiddleware`` runs after the session and before CSRF (which reads form bodies):

* A POST to a page behind the login from a visitor who is not signed in is sent to the login page
  before a byte of its body is read (CSRF would otherwise parse, and spool, a whole upload first).
* A body declared larger than the largest upload (``INTAKE_IMPORT_MAX_BYTES`` and a little for
  the form around it) is refused with 413 before it is read.
* A body sent chunked, without a ``Content-Length`` (the server has de-chunked it and marks the
  stream as terminated), is read here up to its limit (``WEBHOOK_MAX_BYTES`` for webhooks, the
  upload limit elsewhere), so the view sees it whole: Django alone would read an empty body. One
  over the limit is refused with 413 on pages, and left to the webhook's own 413 (which keeps a
  record of the attempt) on webhooks.
* The form itself is parsed here, with ``BoundedUploadHandler`` (the only upload handler): a file
  stays in memory and is refused the moment it passes the limit, so no upload is ever written to
  a temporary file that a killed worker would leave behind.
"""

from __future__ import annotations

import io

from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.views import redirect_to_login
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.utils.html import escape

FORM_OVERHEAD = 64 * 1024  # the form's other fields and the multipart boundaries around the file
BODY_METHODS = {"POST", "PUT", "PATCH"}


class UploadTooLarge(Exception):
    def __init__(self, size: int, *, declared: bool):
        super().__init__(f"body of {'' if declared else 'more than '}{size} bytes")
        self.size, self.declared = size, declared


def upload_limit() -> int:
    """The largest body a page behind the login takes: one CSV file at its limit, in its form."""
    return settings.INTAKE_IMPORT_MAX_BYTES + FORM_OVERHEAD


class BoundedUploadHandler(FileUploadHandler):
    """Keeps each uploaded file in memory and stops the upload once it passes ``INTAKE_IMPORT_MAX_BYTES``."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length > upload_limit():
            raise UploadTooLarge(content_length, declared=True)

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.file = io.BytesIO()

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > settings.INTAKE_IMPORT_MAX_BYTES:
            raise UploadTooLarge(start + len(raw_data), declared=False)
        self.file.write(raw_data)

    def file_complete(self, file_size):
        self.file.seek(0)
        return InMemoryUploadedFile(
            file=self.file,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )


def _too_large(exc: UploadTooLarge) -> HttpResponse:
    limit = settings.INTAKE_IMPORT_MAX_BYTES // (1024 * 1024)
    text = f"The upload ({escape(str(exc))}) is larger than {limit} MB; split the file into smaller files."
    return HttpResponse(
        f'<!doctype html><title>Too large</title><p>{text}</p><p><a href="/imports/">Back to imports</a></p>',
        status=413,
    )


def _declared(request: HttpRequest) -> int | None:
    raw = request.META.get("CONTENT_LENGTH")
    if raw in (None, ""):
        return None
    try:
        return max(0, int(raw))
    except ValueError:
        return None


def _read_chunked(request: HttpRequest, limit: int) -> int:
    """Read a chunked body (no Content-Length) up to ``limit`` + 1 bytes; returns how many were read."""
    stream = request.META["wsgi.input"]
    parts, size = [], 0
    while size <= limit:
        part = stream.read(min(64 * 1024, limit + 1 - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    body = b"".join(parts)
    if size <= limit:
        request.META["CONTENT_LENGTH"] = str(size)
        request.META["wsgi.input"] = io.BytesIO(body)
        request._stream = io.BytesIO(body)
    return size


class RequestLimitsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method not in BODY_METHODS:
            return self.get_response(request)
        try:
            view = resolve(request.path_info).func
        except Resolver404:
            return self.get_response(request)
        public = not getattr(view, "login_required", True)
        if not public:
            user = get_user(request)  # from the session; AuthenticationMiddleware reuses it
            request._cached_user = user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        declared = _declared(request)
        if declared is not None and declared > upload_limit() and not public:
            return _too_large(UploadTooLarge(declared, declared=True))
        chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
        if declared is None and chunked and request.META.get("wsgi.input_terminated"):
            limit = settings.WEBHOOK_MAX_BYTES if public else upload_limit()
            size = _read_chunked(request, limit)
            if size > limit:
                if not public:
                    return _too_large(UploadTooLarge(limit, declared=False))
                request.META["CONTENT_LENGTH"] = str(size)  # at least this much: the webhook's 413 takes it
                request._stream = io.BytesIO(b"")
        if not public and request.content_type == "multipart/form-data":
            try:
                request.POST  # noqa: B018  (parsed here, with the bounded handler, before CSRF reads it)
            except UploadTooLarge as exc:
                return _too_large(exc)
        return self.get_response(request)
