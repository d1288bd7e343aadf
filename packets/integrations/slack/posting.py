"""Calls to Slack's Web API, as an outbox: a ``SlackPost`` row written in the deciding transaction,
sent by the worker after commit, retried with backoff.

``send_post(post_id)`` (a django-q2 task) claims the row (pending -> sending, a conditional UPDATE,
so of two workers one sends) and posts ``{SLACK_API_URL}/{method}`` as JSON with
``Authorization: Bearer {SLACK_BOT_TOKEN}``. Slack answers 200 with ``{"ok": true, ...}`` or
``{"ok": false, "error": "..."}``. A 429 (never sooner than its ``Retry-After``), a 5xx, Slack's
own transient errors (``ratelimited``, ``internal_error``, ``fatal_error``,
``service_unavailable``, ``request_timeout``), a timeout or no connection is tried again later
through ``retry_due_posts``, up to ``SLACK_MAX_ATTEMPTS``; any other error fails with Slack's
code (``channel_not_found``, ``not_in_channel``, ``invalid_auth``...). Slack has no idempotency key:
a timeout after Slack took a message can, on the retry, post it twice.

The address is checked as outbound events' are (``targets.target_problem``): a private or
loopback ``SLACK_API_URL`` is refused unless ``OUTBOUND_ALLOW_PRIVATE_TARGETS`` is set.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from packets.integrations.targets import target_problem
from packets.leases import hand_back_due
from packets.models import Case, SlackPost
from packets.notify.senders import retry_after_seconds

logger = logging.getLogger(__name__)

SEND_TASK = "packets.integrations.slack.posting.send_post"
TRANSIENT = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"})
Status = SlackPost.Status


def configured() -> str:
    """Why Slack cannot be called (empty when it can)."""
    if not settings.SLACK_BOT_TOKEN:
        return "SLACK_BOT_TOKEN is not set"
    return ""


def enqueue(post_id: int) -> None:
    from backorders.queueing import enqueue_stored

    enqueue_stored(SEND_TASK, post_id, task_name=f"slack-post-{post_id}", what=f"Slack post {post_id}")


def queue_post(method: str, body: dict, *, case: Case | None = None, case_id: int | None = None) -> SlackPost:
    """A call to Slack, written in the caller's transaction and sent after it commits."""
    owner = {"case": case} if case is not None else {"case_id": case_id}
    post = SlackPost.objects.create(method=method, request=body, **owner)
    transaction.on_commit(lambda: enqueue(post.pk))
    return post


def call_api(method: str, body: dict) -> requests.Response:
    """One call to Slack's Web API with the bot token (the caller checked ``configured`` and the address)."""
    return requests.post(
        f"{settings.SLACK_API_URL}/{method}",
        data=json.dumps(body, separators=(",", ":")).encode(),
        headers={
            "Authorization": f"Bearer {settings.SLACK_BOT_TOKEN}",
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
        },
        timeout=(settings.NOTIFY_CONNECT_TIMEOUT, settings.NOTIFY_READ_TIMEOUT),
        allow_redirects=False,
    )


def check_connection() -> str:
    """``auth.test``: whether Slack knows the bot token, in words; ``PermissionError`` with Slack's
    own error code (or why no call was made) when it does not."""
    problem = configured() or target_problem(settings.SLACK_API_URL)
    if problem:
        raise PermissionError(problem)
    response = call_api("auth.test", {})
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.status_code != 200 or not isinstance(answer, dict) or answer.get("ok") is not True:
        code = answer.get("error") if isinstance(answer, dict) else ""
        raise PermissionError(f"Slack answered {code or f'HTTP {response.status_code}'}")
    return f"Slack knows the bot {answer.get('user', '?')} in {answer.get('team', '?')}"


def send_post(post_id: int) -> str:
    """Send one call to Slack (a django-q2 task). Returns what happened, in words."""
    now = timezone.now()
    # a row left "sending" longer than a task may run belongs to a worker that died: taken over
    lost = Q(status=Status.SENDING, sending_started_at__lt=now - timedelta(seconds=int(settings.Q_CLUSTER["timeout"])))
    claimed = SlackPost.objects.filter(Q(status=Status.PENDING) | lost, pk=post_id).update(
        status=Status.SENDING, sending_started_at=now, attempts=F("attempts") + 1, next_attempt_at=None
    )
    if not claimed:
        return "nothing to do (already sent or being sent)"
    post = SlackPost.objects.select_related("case").get(pk=post_id)
    problem = configured() or target_problem(settings.SLACK_API_URL)
    if problem:
        return _record(post, None, {}, f"Not sent: {problem}", permanent=True)
    try:
        response = call_api(post.method, post.request)
    except requests.Timeout:
        return _record(post, None, {}, "Slack did not answer in time")
    except requests.RequestException as exc:
        return _record(post, None, {}, f"Could not reach Slack: {exc.__class__.__name__}")
    try:
        answer = response.json()
    except ValueError:
        answer = {"text": response.text[:2000]}
    if not isinstance(answer, dict):
        answer = {"text": str(answer)[:2000]}
    return _record(post, response, answer, "")


def _record(post: SlackPost, response, answer: dict, error: str, *, permanent: bool = False) -> str:
    now = timezone.now()
    status = response.status_code if response is not None else None
    fields = {"response": {"status": status, "body": answer} if response is not None else {}, "next_attempt_at": None}
    with transaction.atomic():
        locked = SlackPost.objects.select_for_update(of=("self",)).select_related("case").get(pk=post.pk)
        if locked.status != Status.SENDING or locked.sending_started_at != post.sending_started_at:
            return "late result ignored (another worker took the post over)"
        if status == 200 and answer.get("ok") is True:
            channel = str(answer.get("channel") or locked.request.get("channel") or "")
            ts = str(answer.get("ts") or locked.request.get("ts") or answer.get("message_ts") or "")
            locked.set_status(
                Status.SENT,
                reason=f"Slack took {locked.method} (channel {channel})"[:500],
                channel=channel,
                ts=ts,
                error="",
                finished_at=now,
                **fields,
            )
            return f"sent ({locked.method})"
        code = str(answer.get("error") or "") if status == 200 else ""
        error = error or (f"Slack answered {code}" if code else f"Slack answered HTTP {status}")
        transient = status is None or status == 429 or status >= 500 or code in TRANSIENT
        if transient and not permanent and locked.attempts < settings.SLACK_MAX_ATTEMPTS:
            wait = settings.SLACK_RETRY_BASE_SECONDS * 2 ** max(0, locked.attempts - 1)
            after = retry_after_seconds(response.headers.get("Retry-After")) if response is not None else None
            when = now + timedelta(seconds=min(max(wait, after or 0), 3600))
            fields["next_attempt_at"] = when
            locked.set_status(
                Status.PENDING, reason=f"{error} (next try after {when:%H:%M:%S} UTC)"[:500], error=error, **fields
            )
            return f"retry at {when.isoformat()}"
        if transient and not permanent:
            error = f"Gave up after {locked.attempts} attempts. Last: {error}"
        locked.set_status(
            Status.FAILED, reason=f"Slack {locked.method} failed: {error}"[:500], error=error, finished_at=now, **fields
        )
        logger.warning("Slack post %s failed: %s", post.pk, error)
        return f"failed: {error}"


def retry_due_posts(limit: int = 100) -> int:
    """Scheduled: hand due retries, and posts a lost worker left ``sending``, back to the queue."""
    return hand_back_due(
        SlackPost,
        waiting=[Status.PENDING],
        running=Status.SENDING,
        started_field="sending_started_at",
        enqueue=enqueue,
        limit=limit,
    )
