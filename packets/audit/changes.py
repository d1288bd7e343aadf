"""A packet's "changes since the previous version", in sentences a store owner reads.

The diff (``packet.diff``) is stored as rows of section, field, before and after, with whatever
values the packet holds (codes, numbers, lists of sentences, nested records). ``sentences`` says
each change in words: "Risk: owner-only → chargeback watch", "Customer's name changed", "Uncertainty
now also says: ...". Codes become their labels; records and lists are never printed raw; personal
details are said to have changed, not repeated.
"""

from __future__ import annotations

from packets.models import Case, Decision

SECTIONS = {
    "summary": "Summary",
    "case": "Case",
    "order": "Order",
    "product": "Product",
    "supplier": "Supplier",
    "tracking": "Tracking",
    "options": "Options",
    "policy": "Policy",
    "customer_risk": "Customer risk",
    "risk_level": "Risk",
    "recommendation": "Recommendation",
    "evidence": "Evidence",
}
FIELDS = {
    "customer": "Customer",
    "name": "name",
    "email": "email address",
    "phone": "phone number",
    "action": "Recommendation",
    "reason": "The reason for the recommendation",
    "risk_level": "Risk",
    "silence_business_days": "Business days without word from the supplier",
    "restock_estimate.strength": "Strength of the restock estimate",
    "uncertainty": "Uncertainty",
    "strength": "Strength of the evidence",
    "category": "Category",
    "status": "Status",
    "waiting_orders": "Orders waiting",
    "waiting_units": "Units waiting",
}
CODES = {
    **{k: str(v) for k, v in Decision.Action.choices},
    **{k: str(v) for k, v in Case.Risk.choices},
    **{k: str(v) for k, v in Case.Kind.choices},
    **{k: str(v) for k, v in Case.Category.choices},
}
PERSONAL = {"name", "email", "phone", "address", "customer"}
SHORT = 60


def _label(name: str) -> str:
    if name in FIELDS:
        return FIELDS[name]
    words = name.replace(".", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def _value(value) -> str:
    if value is None or value == "":
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    return CODES.get(text, text).lower() if text in CODES else text


def _quote(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return f"“{text if len(text) <= limit else text[: limit - 1].rstrip() + '…'}”"


def _list_change(label: str, before: list, after: list) -> list[str]:
    if all(isinstance(x, dict) for x in [*before, *after]):  # options and other records, by their action or label
        old, new = [_record_key(x) for x in before], [_record_key(x) for x in after]
        added = [_value(k) for k in new if k not in old]
        removed = [_value(k) for k in old if k not in new]
        parts = ([f"added {', '.join(added)}"] if added else []) + (
            [f"removed {', '.join(removed)}"] if removed else []
        )
        return (
            [f"{label}: {'; '.join(parts)}."] if parts else [f"{label}: the same choices, with new figures or notes."]
        )
    added = [x for x in after if x not in before]
    removed = [x for x in before if x not in after]
    out = [f"{label} now also says: {_quote(x)}" for x in added]
    out += [f"{label} no longer says: {_quote(x)}" for x in removed]
    return out or [f"{label} changed order."]


def _dict_change(label: str, before: dict, after: dict) -> list[str]:
    out = []
    for name in sorted(set(before) | set(after)):
        if before.get(name) == after.get(name):
            continue
        out.append(f"{label}'s {_label(name)[:1].lower() + _label(name)[1:]} changed.")
    return out or [f"{label} changed."]


def _record_key(item: dict):
    return item.get("action") or item.get("label") or item.get("sku") or ""


def essence(before, after) -> tuple:
    """What ``sentences`` reads of a change, kept in the packet's change rows instead of both values
    whole: of two records, the fields that differ; of two lists of records, each record's key (its
    action, label or SKU). The previous version keeps the values; a first run over a large store
    wrote its change rows bigger than the packets themselves. Other values are kept as they are."""
    if isinstance(before, dict) or isinstance(after, dict):
        old, new = before if isinstance(before, dict) else {}, after if isinstance(after, dict) else {}
        differ = {name for name in set(old) | set(new) if old.get(name) != new.get(name)}
        if isinstance(before, dict):
            before = {name: value for name, value in before.items() if name in differ}
        if isinstance(after, dict):
            after = {name: value for name, value in after.items() if name in differ}
        return before, after
    if isinstance(before, list) or isinstance(after, list):
        old, new = before if isinstance(before, list) else [], after if isinstance(after, list) else []
        if all(isinstance(x, dict) for x in [*old, *new]):
            if isinstance(before, list):
                before = [{"action": _record_key(x)} for x in before]
            if isinstance(after, list):
                after = [{"action": _record_key(x)} for x in after]
    return before, after


def sentences(change: dict) -> list[str]:
    """One change row in words (a record or list can give several sentences)."""
    section, field = change.get("section") or "", change.get("field")
    before, after = change.get("before"), change.get("after")
    label = _label(field) if field else SECTIONS.get(section, _label(section))
    if isinstance(before, dict) or isinstance(after, dict):
        return _dict_change(label, before if isinstance(before, dict) else {}, after if isinstance(after, dict) else {})
    if isinstance(before, list) or isinstance(after, list):
        return _list_change(label, before if isinstance(before, list) else [], after if isinstance(after, list) else [])
    if (field or section) in PERSONAL:
        return [f"{label} changed."]
    if before is None or before == "":
        return [f"{label}: {_quote(after) if len(str(after)) > SHORT else _value(after)} (new)."]
    if after is None or after == "":
        return [f"{label} removed."]
    if len(str(before)) > SHORT or len(str(after)) > SHORT:
        return [f"{label} changed: now {_quote(after)}"]
    return [f"{label}: {_value(before)} → {_value(after)}."]
