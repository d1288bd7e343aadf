"""Finding a customer's personal data wherever a copy of it landed, and replacing it.

``packets.privacy.customer_data.erase_customer`` blanks the fields that are the customer's by design
(their row, their orders' shipping details, their messages). Copies land elsewhere too: staff type
a name or an address into a decision note, a provider's error quotes an address in a failed task
or an audit summary, an outbound event carries the case title, a rejected webhook keeps a body, an
import keeps its file. This module looks for the customer's own values (:func:`needles`) and
replaces each occurrence with ``[erased]``:

* in every row tied to the customer (their orders' cases: case titles, decision and outcome notes,
  outbound event payloads and answers, store-action calls, Zendesk copies, the owner's Slack alerts
  (updated in Slack too) and the presses on them, messages' subjects and errors, inbound subjects,
  stock-allocation notes), all their values, the city and postal code too;
* anywhere in the database, for the values that identify only them (email, full name, phone,
  channel ids): stored webhook bodies (accepted or rejected: the body is replaced by a marker),
  uploaded import files and their reports, the task queue's saved results and arguments, the
  admin's change log.

What is kept, on purpose (the audit trail's legal hold): ``AuditEvent`` rows are append-only (a
trigger refuses changes), and packets are hashed snapshots; both may still quote the customer.
The pages and PDFs show an erased customer's packets without their name, email or phone, and
their cases' earlier audit rows without summaries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

import phonenumbers
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.db.models import Q
from django_q.models import Schedule, Task

from backorders.models import Customer, ImportJob, Order, TrackingEvent, WebhookDelivery
from packets.audit import pdf_cache
from packets.models import (
    Case,
    Decision,
    InboundMail,
    InboundMessage,
    Message,
    OutboundDelivery,
    Outcome,
    SlackInteraction,
    SlackPost,
    StoreAction,
    ZendeskTicket,
)

ERASED = "[erased]"
ERASED_BODY = b'{"erased": true}'
MIN_NEEDLE = 4  # shorter values ("Al", "OR") would erase other people's words


def needles(customer: Customer, orders: Iterable[Order]) -> tuple[list[str], list[str]]:
    """(identifying, local): values only this customer has, searched everywhere; and values that
    are theirs in their own rows (city, postal code), searched only there."""
    identifying = {customer.email, customer.name, customer.shopify_id, customer.woocommerce_id}
    identifying |= _phone_forms(customer.phone)
    local = set()
    for order in orders:
        identifying.add(order.shipping_name)
        local |= {order.shipping_city, order.shipping_postal_code}
    identifying = {v.strip() for v in identifying if v and len(v.strip()) >= MIN_NEEDLE}
    local = {v.strip() for v in local if v and len(v.strip()) >= MIN_NEEDLE} - identifying
    by_length = sorted(identifying, key=len, reverse=True)  # "Jane Doe" before "Jane"
    return by_length, sorted(local, key=len, reverse=True)


def _phone_forms(phone: str) -> set[str]:
    """The phone as stored and as people write it (national, international, digits only)."""
    forms = {phone}
    try:
        number = phonenumbers.parse(phone, None if phone.startswith("+") else "US")
    except phonenumbers.NumberParseException:
        return forms
    for style in (phonenumbers.PhoneNumberFormat.NATIONAL, phonenumbers.PhoneNumberFormat.INTERNATIONAL):
        forms.add(phonenumbers.format_number(number, style))
    forms.add(str(number.national_number))
    return forms


class Scrubber:
    """Replaces the given values, in any letter case, as they are and as JSON writes them."""

    def __init__(self, values: list[str]):
        self.values = list(values)
        self.forms = sorted({v for v in values} | {json.dumps(v)[1:-1] for v in values}, key=len, reverse=True)
        self.pattern = re.compile("|".join(re.escape(v) for v in self.forms), re.IGNORECASE) if values else None

    def text(self, value):
        if self.pattern is None or not isinstance(value, str):
            return value
        return self.pattern.sub(ERASED, value)

    def data(self, value):
        """A JSON value with every string (keys too) scrubbed."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.data(v) for v in value]
        if isinstance(value, dict):
            return {self.text(k): self.data(v) for k, v in value.items()}
        return value

    def found_in(self, value) -> bool:
        if self.pattern is None or value is None:
            return False
        if isinstance(value, bytes | memoryview):
            value = bytes(value).decode("utf-8", "replace")
        elif not isinstance(value, str):
            value = json.dumps(value, default=str)
        return bool(self.pattern.search(value))


def _scrub_rows(queryset, fields: list[str], scrubber: Scrubber, json_fields: Iterable[str] = ()) -> int:
    """Rewrite the given fields of each row where a value occurs; the number of rows changed."""
    json_fields = set(json_fields)
    changed = 0
    for row in queryset.select_for_update().only("pk", *fields):
        updates = {}
        for name in fields:
            value = getattr(row, name)
            new = scrubber.data(value) if name in json_fields else scrubber.text(value)
            if new != value:
                updates[name] = new
        if updates:
            type(row).objects.filter(pk=row.pk).update(**updates)
            changed += 1
    return changed


def scrub_related(customer: Customer, order_ids: list[int], scrubber: Scrubber) -> dict[str, int]:
    """Every value of the customer in the rows tied to them (their orders and those orders' cases)."""
    cases = Case.objects.filter(Q(order_id__in=order_ids) | Q(inbound_messages__customer=customer)).distinct()
    case_ids = list(cases.values_list("pk", flat=True))
    return {
        # kept packet PDFs show the customer as they were: deleted, the next download renders again
        "cached_packet_pdfs": pdf_cache.forget(case_ids),
        "case_titles": _scrub_rows(Case.objects.filter(pk__in=case_ids), ["title"], scrubber),
        "decision_notes": _scrub_rows(Decision.objects.filter(case_id__in=case_ids), ["note"], scrubber),
        "outcome_notes": _scrub_rows(Outcome.objects.filter(case_id__in=case_ids), ["note"], scrubber),
        "outbound_events": _scrub_rows(
            OutboundDelivery.objects.filter(case_id__in=case_ids),
            ["payload", "response_body", "error"],
            scrubber,
            json_fields=["payload"],
        ),
        "store_actions": _scrub_rows(
            StoreAction.objects.filter(Q(case_id__in=case_ids) | Q(order_id__in=order_ids)),
            ["plan", "request", "response", "error"],
            scrubber,
            json_fields=["plan", "request", "response"],
        ),
        "zendesk_copies": _scrub_rows(
            ZendeskTicket.objects.filter(case_id__in=case_ids),
            ["request", "response", "error"],
            scrubber,
            json_fields=["request", "response"],
        ),
        "slack_copies": _scrub_slack(case_ids, scrubber),
        "message_subjects_and_errors": _scrub_rows(
            Message.objects.filter(Q(customer=customer) | Q(order_id__in=order_ids) | Q(case_id__in=case_ids)),
            ["subject", "last_error", "guideline_issues"],
            scrubber,
            json_fields=["guideline_issues"],
        ),
        "tracking_scans": _scrub_rows(
            TrackingEvent.objects.filter(shipment__order_id__in=order_ids), ["location", "message"], scrubber
        ),
        "inbound_subjects": _scrub_rows(
            InboundMessage.objects.filter(Q(customer=customer) | Q(order_id__in=order_ids) | Q(case_id__in=case_ids)),
            ["subject"],
            scrubber,
        ),
    }


def _scrub_slack(case_ids: list[int], scrubber: Scrubber) -> int:
    """Our copies of the owner's Slack alerts and the presses on them. An alert Slack shows that
    quoted the customer is shown again in Slack without them: its latest content, scrubbed, goes
    out as a ``chat.update`` after commit."""
    from packets.integrations.slack.posting import queue_post

    calls = SlackPost.objects.filter(case_id__in=case_ids, method__in=["chat.postMessage", "chat.update"])
    shown, quoting = {}, set()
    for call in calls.filter(status=SlackPost.Status.SENT).order_by("pk"):
        where = (
            call.request.get("channel") if call.method == "chat.update" else call.channel,
            call.request.get("ts") or call.ts,
        )
        shown[where] = call
        if scrubber.found_in(call.request):
            quoting.add(where)
    changed = _scrub_rows(
        SlackPost.objects.filter(case_id__in=case_ids),
        ["request", "response", "error"],
        scrubber,
        json_fields=["request", "response"],
    )
    for channel, ts in quoting:
        latest = shown[(channel, ts)]
        body = scrubber.data({"text": latest.request.get("text", ""), "blocks": latest.request.get("blocks") or []})
        queue_post("chat.update", {"channel": channel, "ts": ts, **body}, case_id=latest.case_id)
    presses = SlackInteraction.objects.filter(case_id__in=case_ids)
    return changed + _scrub_rows(presses, ["payload", "outcome"], scrubber, json_fields=["payload"])


def scrub_everywhere(customer: Customer, scrubber: Scrubber) -> dict[str, int]:
    """The values that identify only this customer, in every place a copy can land unlinked."""
    if scrubber.pattern is None:
        return {}
    return {
        "webhook_deliveries": _erase_webhook_bodies(scrubber),
        "import_files": _scrub_import_jobs(scrubber),
        "task_results": _scrub_tasks(scrubber),
        "admin_log": _scrub_admin_log(customer, scrubber),
        "inbound_mail": erase_inbound_mail(
            InboundMail.objects.exclude(status=InboundMail.Status.ERASED).filter(
                _icontains_any("raw", scrubber)
                | _icontains_any("stripped_text", scrubber)
                | _icontains_any("from_address", scrubber)
                | _icontains_any("subject", scrubber)
            )
        ),
    }


def erase_inbound_mail(rows) -> int:
    """Replace the kept source of these customer emails (and what was read from it); the row, its
    case and how it was matched stay, so the trail reads."""
    erased = InboundMail.Status.ERASED
    return rows.update(raw=ERASED, stripped_text="", from_address=ERASED, subject=ERASED, message_id="", status=erased)


def _erase_webhook_bodies(scrubber: Scrubber) -> int:
    """Replace every stored body (accepted or rejected) that holds one of the values; its SHA-256 stays."""
    hits = _rows_holding(WebhookDelivery, "body", ["headers"], scrubber)
    for delivery in WebhookDelivery.objects.filter(pk__in=hits).only("pk", "error").select_for_update():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            body=ERASED_BODY, headers={}, error=scrubber.text(delivery.error)
        )
    errors = _scrub_rows(
        WebhookDelivery.objects.exclude(pk__in=hits).filter(_icontains_any("error", scrubber)), ["error"], scrubber
    )
    return len(hits) + errors


def _icontains_any(field: str, scrubber: Scrubber) -> Q:
    query = Q()
    for value in scrubber.forms:
        query |= Q(**{f"{field}__icontains": value})
    return query


def _rows_holding(model, byte_column: str, text_columns: list[str], scrubber: Scrubber) -> set[int]:
    """Ids of rows whose bytes or text (JSON as text) hold one of the values, found by the database."""
    table = model._meta.db_table
    hits: set[int] = set()
    with connection.cursor() as cursor:
        for value in sorted({v for form in scrubber.forms for v in (form, form.lower())}):
            escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            if connection.vendor == "postgresql":
                # the bytes as they are, and (for ASCII values) in any letter case
                texts = " OR ".join(f"{c}::text ILIKE %s" for c in text_columns)
                sql = (
                    f"SELECT id FROM {table} WHERE position(%s::bytea in {byte_column}) > 0"  # noqa: S608
                    f" OR encode({byte_column}, 'escape') ILIKE %s OR {texts}"
                )
                params = [value.encode(), *[f"%{escaped}%"] * (1 + len(text_columns))]
            else:
                texts = " OR ".join(f"instr(lower({c}), lower(%s)) > 0" for c in text_columns)
                sql = f"SELECT id FROM {table} WHERE instr({byte_column}, %s) > 0 OR {texts}"  # noqa: S608
                params = [value.encode(), *[value] * len(text_columns)]
            cursor.execute(sql, params)
            hits.update(pk for (pk,) in cursor.fetchall())
    return hits


def _scrub_import_jobs(scrubber: Scrubber) -> int:
    changed = 0
    holding = _rows_holding(ImportJob, "content", ["errors", "summary", "error"], scrubber)
    for job in (
        ImportJob.objects.filter(pk__in=holding).select_for_update().only("pk", "content", "errors", "summary", "error")
    ):
        content = bytes(job.content or b"")
        text = content.decode("utf-8", "replace")
        new_content = scrubber.text(text).encode() if scrubber.found_in(text) else content
        updates = {}
        if new_content != content:
            updates["content"] = new_content
        for name in ("errors", "summary"):
            value = getattr(job, name)
            if scrubber.data(value) != value:
                updates[name] = scrubber.data(value)
        if scrubber.text(job.error) != job.error:
            updates["error"] = scrubber.text(job.error)
        if updates:
            ImportJob.objects.filter(pk=job.pk).update(**updates)
            changed += 1
    return changed


def _scrub_tasks(scrubber: Scrubber) -> int:
    """Saved task results (a failure quotes what the provider said) and arguments; queued payloads."""
    changed = 0
    for task in Task.objects.only("pk", "result", "args", "kwargs", "name").iterator(chunk_size=500):
        updates = {}
        for name in ("result", "args", "kwargs"):
            value = getattr(task, name)
            if scrubber.found_in(value) or scrubber.found_in(str(value)):
                updates[name] = scrubber.text(str(value))
        if updates:
            for name, value in updates.items():
                setattr(task, name, value)
            task.save(update_fields=list(updates))
            changed += 1
    for schedule in Schedule.objects.filter(_icontains_any("args", scrubber) | _icontains_any("kwargs", scrubber)):
        schedule.args, schedule.kwargs = scrubber.text(schedule.args), scrubber.text(schedule.kwargs)
        schedule.save(update_fields=["args", "kwargs"])
        changed += 1
    # queued payloads (django_q_ormq) are signed task calls whose arguments are row ids, never personal data
    return changed


def _scrub_admin_log(customer: Customer, scrubber: Scrubber) -> int:
    changed = LogEntry.objects.filter(
        content_type__app_label="backorders", content_type__model="customer", object_id=str(customer.pk)
    ).update(object_repr=ERASED)
    return changed + _scrub_rows(
        LogEntry.objects.filter(_icontains_any("object_repr", scrubber) | _icontains_any("change_message", scrubber)),
        ["object_repr", "change_message"],
        scrubber,
    )


def redact_packet_content(content: dict, customer: Customer | None) -> dict:
    """A packet's content for display: an erased customer's name, email and phone are not shown
    (the stored packet, and its hash, stay as they were)."""
    if customer is None or customer.erased_at is None or not isinstance(content, dict):
        return content
    order = content.get("order")
    if not isinstance(order, dict):
        return content
    shown = {**content, "order": {**order}}
    if isinstance(order.get("customer"), dict):
        shown["order"]["customer"] = {
            **order["customer"],
            **{key: ERASED for key in ("name", "email", "phone") if order["customer"].get(key)},
        }
    for key in ("shipping_name", "shipping_city", "shipping_postal_code"):
        if order.get(key):
            shown["order"][key] = ERASED
    return shown


HELD = "(kept in the audit record; not shown since the customer's data was erased)"


def redact_audit_rows(events: list, customer: Customer | None) -> list:
    """Audit rows for display: those written before the customer's erasure show no summary (staff may
    have typed the customer's name into it); the rows themselves stay as written."""
    if customer is None or customer.erased_at is None:
        return events
    for event in events:
        if event.at < customer.erased_at and event.action != "customer.erased":
            event.summary = HELD  # this instance only, for the page; never saved
    return events
