"""Optional machine drafting: a reply to the customer written by a language model, for a person to check.

Off unless ``LLM_BASE_URL``, ``LLM_API_KEY`` and ``LLM_MODEL`` are all set; the templates stay
the default. ``draft_reply(case_id, user)`` asks any OpenAI-compatible server
(``POST {LLM_BASE_URL}/chat/completions`` with ``{model, messages, temperature}``; the text is
``choices[0].message.content``) for the body of a reply, from the case's packet and its thread,
then stores it as an ordinary customer draft, marked ``machine_drafted``. It goes through the
same guideline checks as any draft (stored with its issues, refused at approval while it has
any) and is never sent without a person's approval: no standing approval covers it.

What is sent to the model is only what the reply needs: the order number, the waiting items
(title, variant, quantities, state), the supplier's restock range and how firm it is, whether
the customer is a VIP, and the last messages of the thread (ours and theirs), with email
addresses and phone numbers in them replaced. Never the customer's name, email, address or
phone, the order's value or payment. The greeting (with the first name), the customer-page link
and the sign-off are added here, after the model answered.

A model that does not answer within ``LLM_TIMEOUT_SECONDS``, answers with an error, or answers
in another shape stores nothing and raises ``DraftUnavailable`` with the reason in words.
"""

from __future__ import annotations

import re
import uuid

import requests
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction

from backorders.models import StorePolicy
from backorders.roles import is_staff_member
from packets.models import AuditEvent, Case, InboundMessage, Message

from . import messaging
from .links import customer_link

THREAD_MESSAGES = 6
THREAD_CHARS = 1500
TEMPERATURE = 0.2
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"\+?\d[\d ().-]{7,}\d")


class DraftUnavailable(Exception):
    """The model gave no usable draft; nothing was stored."""


def configured() -> bool:
    return bool(settings.LLM_BASE_URL and settings.LLM_API_KEY and settings.LLM_MODEL)


def redact(text: str) -> str:
    """The text with email addresses and phone numbers replaced."""
    return PHONE.sub("[phone]", EMAIL.sub("[email]", text or ""))


def prompt_for(case: Case, policy: StorePolicy) -> list[dict]:
    """The chat messages for the model: the house rules, then the case's facts and its thread."""
    packet = case.latest_packet
    content = packet.content if packet is not None else {}
    order = content.get("order") or {}
    lines = [
        f"- {line.get('title', '')} {('(' + line['variant'] + ')') if line.get('variant') else ''}: "
        f"{line.get('quantity')} ordered, {line.get('short', 0)} still waiting ({line.get('state', '')})"
        for line in order.get("lines") or []
    ]
    estimate = (content.get("supplier") or {}).get("restock_estimate") or {}
    if estimate.get("from") and estimate.get("to"):
        strength = estimate.get("strength", "unknown")
        restock = (
            f"the supplier expects a restock between {estimate['from']} and {estimate['to']} ({strength} evidence)"
        )
    else:
        restock = "the supplier has given no restock estimate"
    product_status = (content.get("product") or {}).get("status", "")
    facts = [
        f"Order {order.get('number', '')}.",
        "Items:",
        *lines,
        f"Restock: {restock}.",
        f"Product status: {product_status or 'unknown'}.",
        f"VIP customer: {'yes' if (order.get('customer') or {}).get('vip') else 'no'}.",
    ]
    thread = _thread(case)
    forbidden = ", ".join(f'"{phrase}"' for phrase in policy.forbidden_phrases if phrase) or "none"
    rules = (
        f"You write the body of an email from {settings.STORE_NAME} to a customer whose order waits on a backorder. "
        "Write only the body: no greeting, no sign-off, no links, no placeholders in braces. "
        f"At most {max(policy.email_word_limit - 40, 20)} words, plain text, warm and direct. "
        "Say what we know, what we are doing, and that we will write again. "
        "Never give one exact date for shipping or arrival: give a range in weeks, or say no date is known yet. "
        "Never say the parcel has shipped unless the facts say a carrier has it. Promise no refund or "
        "compensation; if the customer asks for one, say a person will look at it. "
        f"Never use these phrases: {forbidden}. Answer what the customer last wrote, if they wrote."
    )
    return [
        {"role": "system", "content": rules},
        {"role": "user", "content": "Facts:\n" + "\n".join(facts) + "\n\nThread, oldest first:\n" + thread},
    ]


def _thread(case: Case) -> str:
    ours = Message.objects.filter(case=case, audience=Message.Audience.CUSTOMER, sent_at__isnull=False).values_list(
        "sent_at", "body"
    )
    theirs = InboundMessage.objects.filter(case=case).values_list("received_at", "body")
    items = sorted(
        [(at, "Us", body) for at, body in ours] + [(at, "Customer", body) for at, body in theirs],
        key=lambda item: item[0],
    )[-THREAD_MESSAGES:]
    if not items:
        return "(no messages yet)"
    return "\n\n".join(f"{who}: {redact(body)[:THREAD_CHARS]}" for _, who, body in items)


def ask(messages: list[dict]) -> str:
    """The model's text for these chat messages; ``DraftUnavailable`` when there is none."""
    url = f"{settings.LLM_BASE_URL}/chat/completions"
    try:
        response = requests.post(
            url,
            json={"model": settings.LLM_MODEL, "messages": messages, "temperature": TEMPERATURE},
            headers={"Authorization": f"Bearer {settings.LLM_API_KEY}"},
            timeout=(min(5, settings.LLM_TIMEOUT_SECONDS), settings.LLM_TIMEOUT_SECONDS),
        )
    except requests.Timeout:
        raise DraftUnavailable(
            f"The drafting model did not answer within {settings.LLM_TIMEOUT_SECONDS} s; write the reply, or try again."
        ) from None
    except requests.RequestException as exc:
        raise DraftUnavailable(f"The drafting model could not be reached ({type(exc).__name__}).") from None
    if response.status_code != 200:
        raise DraftUnavailable(f"The drafting model answered {response.status_code}: {response.text[:200]}")
    try:
        text = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise DraftUnavailable(
            "The drafting model answered in an unknown shape (no choices[0].message.content)."
        ) from None
    if not isinstance(text, str) or not text.strip():
        raise DraftUnavailable("The drafting model answered with no text.")
    return text.strip()


def draft_reply(case_id: int, user) -> Message:
    """A machine-drafted customer reply on the case, stored as a draft with its guideline issues.

    Refuses (``PermissionDenied``) a user without a staff role, (``DraftUnavailable``) when drafting
    is not configured, the case has no customer to write to, or the model gave no usable text."""
    if not is_staff_member(user):
        raise PermissionDenied("Only the store's staff draft replies.")
    if not configured():
        raise DraftUnavailable("Machine drafting is off: set LLM_BASE_URL, LLM_API_KEY and LLM_MODEL to use it.")
    case = Case.objects.select_related("order__customer").get(pk=case_id)
    order = case.order
    customer = order.customer if order is not None else None
    if customer is None or not customer.email:
        raise DraftUnavailable("This case has no customer email to write to.")
    policy = StorePolicy.objects.current()
    text = ask(prompt_for(case, policy))  # network I/O, outside any transaction
    first = (customer.name or "").strip().split()
    body = "\n\n".join(
        [
            f"Hi {first[0] if first else 'there'},",
            text,
            f"You can see your order, and cancel it if you prefer, here: {customer_link(order)}",
            settings.STORE_NAME,
        ]
    )
    with transaction.atomic():
        message = Message(
            case=case,
            order=order,
            customer=customer,
            channel=Message.Channel.EMAIL,
            audience=Message.Audience.CUSTOMER,
            to=customer.email,
            subject=f"Order {order.number}: an update on your backorder",
            body=body,
            machine_drafted=True,
            idempotency_key=f"machine-draft-{case.pk}-{uuid.uuid4().hex}",
        )
        message.guideline_issues = messaging.current_issues(message, policy)
        message.save()
        AuditEvent.record(
            "message.machine_drafted",
            actor=user,
            case=case,
            obj=message,
            summary=f"Asked {settings.LLM_MODEL} for a reply draft"
            + (f"; it breaks {len(message.guideline_issues)} guideline(s)" if message.guideline_issues else ""),
            issues=message.guideline_issues,
        )
    return message
