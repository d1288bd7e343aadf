"""The owner's wording of the cadence steps (``StorePolicy.cadence_wording``), and which variant applies.

Each cadence step (a key of ``StorePolicy.cadence``) may carry, per variant, a subject, an email body
and an SMS body with placeholders in braces (``PLACEHOLDERS``). A variant left empty falls back to the
step's default wording, and that, when empty, to the built-in text of
``packets/templates/packets/messages/``: a store that never wrote a word keeps today's messages.

Which variant applies comes from facts the desk already has, first that fits:

* ``alternative``: the day-7 step (due ``ALTERNATIVE_AFTER_HOURS`` after the backorder) when another
  active variant of the same product is in stock for the whole line (as packets find replacements);
* ``vip``: the customer has ``vip_min_orders`` previous orders or more (``Customer.is_vip``);
* ``first_order``: the customer has no previous order; the text links the store's FAQ (``faq_link``);
* ``default``: everyone else.

Placeholders are filled by name only (never ``str.format``): a text cannot reach into the objects
behind the values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from backorders.bulk import InList
from backorders.formats.text import product_name
from backorders.models import Product, StorePolicy
from packets.models import AuditEvent, Message

DEFAULT = "default"
VIP = "vip"
FIRST_ORDER = "first_order"
ALTERNATIVE = "alternative"
BUILT_IN = "built-in"
VARIANT_LABELS = {
    DEFAULT: "Everyone",
    VIP: "VIP customers",
    FIRST_ORDER: "First-time buyers (with the FAQ link)",
    ALTERNATIVE: "Day 7: an in-stock alternative to offer",
}
FIELDS = ("subject", "email", "sms")
ALTERNATIVE_AFTER_HOURS = 168  # the day-7 step

PLACEHOLDERS = {
    "first_name": 'the customer\'s first name ("there" when unknown)',
    "store_name": "the store's name",
    "order_number": "the order's number",
    "product": "the item waiting, with its variant",
    "quantity": "how many are waiting",
    "range": '"between March 2 and March 9", or "once our supplier confirms a date"',
    "next_update": 'when we write next: "by March 5", or "as soon as anything changes"',
    "cancel_link": "the customer's order page, where they can cancel at no cost",
    "faq_link": "the store's FAQ page (first-time buyers)",
    "alternative": "the in-stock alternative (day-7 alternative offer)",
}
# Placeholders only one variant may use: elsewhere they have no value.
ONLY_IN = {"faq_link": FIRST_ORDER, "alternative": ALTERNATIVE}
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class Chosen:
    """The owner's wording a message uses: which variant, its subject (may be empty) and body."""

    variant: str
    subject: str
    body: str


def step_wording(policy: StorePolicy, step: str) -> dict[str, dict[str, str]]:
    """The step's variants, each with every field (empty strings where nothing is written)."""
    stored = (policy.cadence_wording or {}).get(step) or {}
    return {variant: {f: str((stored.get(variant) or {}).get(f) or "") for f in FIELDS} for variant in VARIANT_LABELS}


def variants_for(step: dict) -> tuple[str, ...]:
    """The variants a cadence step (a ``StorePolicy.cadence`` entry) offers."""
    if int(step.get("after_hours", -1)) == ALTERNATIVE_AFTER_HOURS:
        return (DEFAULT, VIP, FIRST_ORDER, ALTERNATIVE)
    return (DEFAULT, VIP, FIRST_ORDER)


def allowed_placeholders(variant: str) -> set[str]:
    return {name for name in PLACEHOLDERS if ONLY_IN.get(name, variant) == variant}


def applicable(customer, policy: StorePolicy, *, alternative: str = "") -> list[str]:
    """The variants that fit, most specific first, ending with the default."""
    found = []
    if alternative:
        found.append(ALTERNATIVE)
    if customer is not None and customer.is_vip(policy):
        found.append(VIP)
    if customer is not None and customer.orders_count == 0 and policy.faq_url:
        found.append(FIRST_ORDER)
    return [*found, DEFAULT]


def choose(policy: StorePolicy, step_key: str, channel: str, customer, *, alternative: str = "") -> Chosen | None:
    """The owner's wording for this step, channel and customer: the first applicable variant with a
    body for the channel (its subject, else the default wording's); None when the built-in text applies."""
    stored = (policy.cadence_wording or {}).get(step_key)
    if not stored:
        return None
    step = next((s for s in policy.cadence if s.get("key") == step_key), None)
    offered = variants_for(step) if step else (DEFAULT,)
    field = "sms" if channel == Message.Channel.SMS else "email"
    default_subject = ((stored.get(DEFAULT) or {}).get("subject") or "").strip()
    for variant in applicable(customer, policy, alternative=alternative):
        text = (stored.get(variant) or {}) if variant in offered else {}
        if (text.get(field) or "").strip():
            return Chosen(variant, (text.get("subject") or "").strip() or default_subject, text[field])
    return None


def fill(text: str, values: dict[str, str]) -> str:
    """``text`` with every known placeholder replaced; unknown ones stay as typed (the guidelines
    catch a brace left in a message)."""
    return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), text)


def unknown_placeholders(text: str, variant: str) -> list[str]:
    allowed = allowed_placeholders(variant)
    return [name for name in dict.fromkeys(PLACEHOLDER.findall(text)) if name not in allowed]


def alternatives(due: Iterable[tuple], policy: StorePolicy) -> dict[int, str]:
    """Per waiting line whose due step is the day-7 step with an alternative wording, the in-stock
    alternative to offer: another active variant of the same product with the whole line free, the
    most available first (as a packet's replacements). One query, none when no such wording exists."""
    day7 = {s["key"] for s in policy.cadence if int(s.get("after_hours", -1)) == ALTERNATIVE_AFTER_HOURS}
    worded = {
        key for key in day7 if any((step_wording(policy, key)[ALTERNATIVE][f] or "").strip() for f in ("email", "sms"))
    }
    wanted = [line for line, step in due if step in worded]
    if not wanted:
        return {}
    rows = (
        Product.objects.filter(InList("title", {line.product.title for line in wanted}), status=Product.Status.ACTIVE)
        .order_by("sku")
        .values("pk", "title", "variant_title", "on_hand", "allocated")
    )
    by_title: dict[str, list[dict]] = {}
    for row in rows:
        by_title.setdefault(row["title"], []).append(row)
    found = {}
    for line in wanted:
        units = max(line.quantity - line.shipped, 1)
        fits = [
            row
            for row in by_title.get(line.product.title, [])
            if row["pk"] != line.product_id and row["on_hand"] - row["allocated"] >= units
        ]
        if fits:
            best = max(fits, key=lambda row: row["on_hand"] - row["allocated"])
            found[line.pk] = product_name(best["title"], best["variant_title"])
    return found


def record_variants(chosen: dict[str, tuple[str, Chosen]], policy: StorePolicy, now) -> None:
    """One audit row per drafted message that used the owner's wording, naming the variant (the
    message itself has no field for it). ``chosen``: idempotency key -> (step, wording used)."""
    if not chosen:
        return
    rows = Message.objects.filter(idempotency_key__in=list(chosen), created_at=now).values_list(
        "pk", "idempotency_key", "case_id"
    )
    AuditEvent.objects.bulk_create(
        AuditEvent(
            at=now,
            actor_label="system",
            action="message.drafted",
            case_id=case_id,
            object_type="packets.message",
            object_id=str(pk),
            summary=(
                f"Drafted {chosen[key][0]} in the owner's wording: {VARIANT_LABELS[chosen[key][1].variant].lower()} "
                f"(policy v{policy.version})"
            ),
            data={"step": chosen[key][0], "variant": chosen[key][1].variant, "policy_version": policy.version},
        )
        for pk, key, case_id in rows
    )
