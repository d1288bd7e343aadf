"""One JSON object a line (LOG_FORMAT=json), with the case, order and message ids where they apply.

Code passes ids through ``extra``: ``logger.info("sent", extra={"message_id": m.pk, "case_id": m.case_id})``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

CONTEXT_FIELDS = ("case_id", "order_id", "message_id", "delivery_id", "product_id", "task_id")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for field in CONTEXT_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


# The queue's own lines about each scheduled run ("created task ... from schedule", "processing",
# "Processed"): an idle store runs a dozen schedules a minute, and these lines would bury the ones
# worth reading. A schedule that finds work logs what it did itself, at INFO.
_ROUTINE = re.compile(r"created task .* from schedule \[|processing .* '(?P<a>[\w.]+)'|^Processed '(?P<b>[\w.]+)'")
_ENQUEUED = re.compile(r"^Enqueued \[")


def _from_the_scheduler() -> bool:
    """True when the scheduler (django_q.scheduler.scheduler) is enqueueing: a schedule's turn, not news."""
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "scheduler" and code.co_filename.endswith(
            ("django_q/scheduler.py", "django_q\\scheduler.py")
        ):
            return True
        frame = frame.f_back
    return False


def _scheduled_funcs() -> frozenset[str]:
    from packets.schedules import SCHEDULES  # plain data, no models: safe while logging is configured

    return frozenset(declared.func for declared in SCHEDULES)


class QuietSchedules(logging.Filter):
    """Demote django-q2's routine lines about scheduled tasks to DEBUG (dropped unless DEBUG is on)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        message = record.getMessage()
        match = _ROUTINE.search(message)
        if match is None:
            if not (_ENQUEUED.match(message) and _from_the_scheduler()):
                return True
        else:
            func = match.group("a") or match.group("b")
            if func is not None and func not in _scheduled_funcs():
                return True  # a task someone asked for (a send, an export): worth a line
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


# query parameters whose value is a secret (Shippo's webhook token)
SECRET_PARAMS = re.compile(r"(?i)([?&;](?:token|access_token|secret)=)[^&\s\"']*")


def redact(text: str) -> str:
    """``text`` with the value of every secret query parameter replaced by ``[redacted]``."""
    return SECRET_PARAMS.sub(r"\1[redacted]", text)


class RedactSecrets(logging.Filter):
    """Rewrites a record's message so no secret query parameter reaches a log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
