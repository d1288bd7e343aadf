"""What one call to a store came to, and the transport errors every platform client raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SUCCEEDED = "succeeded"  # the store did it (or had already done it)
FAILED = "failed"  # the store refused; its message says why; sending again will not help
RETRY = "retry"  # nothing happened (throttled, not reachable): send again later
UNKNOWN = "unknown"  # sent, but no answer: read the store back before sending again
NOT_DONE = "not_done"  # a read-back found no trace of the action: it may be sent


@dataclass
class CallResult:
    outcome: str
    request: dict = field(default_factory=dict)
    response: Any = None
    error: str = ""
    retry_after: float | None = None
    external_ref: str = ""
    gateway_cannot_refund: bool = False
    note: str = ""


class StoreCallError(Exception):
    def __init__(self, message: str, *, body: Any = None, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.body = body
        self.retry_after = retry_after


class NotConfigured(StoreCallError):
    """A setting the platform needs is missing."""


class NotSent(StoreCallError):
    """The request never reached the store (it could not connect)."""


class NoAnswer(StoreCallError):
    """The request may have reached the store, but no usable answer came back."""


class Throttled(StoreCallError):
    """The store refused for now (rate limit); the call did not run."""


class Refused(StoreCallError):
    """The store answered with an error that waiting will not change."""


def failure_from(exc: StoreCallError, request: dict, *, mutation: bool) -> CallResult:
    """The result for a transport error: whether it is safe to send again depends on the error."""
    if isinstance(exc, Throttled | NotSent):
        return CallResult(RETRY, request, exc.body, exc.message, retry_after=exc.retry_after)
    if isinstance(exc, NoAnswer):
        return CallResult(UNKNOWN if mutation else RETRY, request, exc.body, exc.message)
    return CallResult(FAILED, request, exc.body, exc.message)


def sending(action, request: dict) -> None:
    """Write the exact call on the row before it goes out, so a worker lost mid-call still shows it."""
    hook = getattr(action, "before_send", None)
    if hook is not None:
        hook(request)
