"""The decision packet's content: its sections, its stable hash and the diff between versions.

The content follows the packet contract (summary, case, order, product, supplier, tracking,
options, policy, customer_risk, risk_level, recommendation, evidence). A few fields are counters
that tick with the clock rather than with the facts ("tracking age"); they are stored, but the
hash and the diff ignore them, so a sweep over unchanged facts makes no new version.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from backorders.formats.text import product_name, sentence

from .models import Packet
from .rules.customer import CustomerRisk
from .rules.facts import OrderFacts, PolicyFacts, ShipmentFacts, SupplierFacts, UpdateFacts
from .rules.options import money
from .rules.supply import Range, SupplyVerdict
from .rules.tracking import TrackingVerdict

SECTIONS = (
    "summary",
    "case",
    "order",
    "product",
    "supplier",
    "tracking",
    "options",
    "policy",
    "customer_risk",
    "risk_level",
    "recommendation",
    "evidence",
)

# Counters that move with the clock, not with the facts: kept out of the hash and the diff.
VOLATILE: dict[str, frozenset[str]] = {
    "tracking": frozenset({"tracking_age_days", "business_days_since_last_scan"}),
    "supplier": frozenset({"silence_business_days"}),
}
# On order and tracking cases the product's stock counters are context (another customer's order
# moves them), not this case's facts.
CONTEXT_COUNTERS = frozenset({"on_hand", "allocated", "available", "waiting_orders", "waiting_units"})

APPLIED_RULES = {
    "backorder": ["stock", "supplier", "money", "customers", "allocation"],
    "stockout": ["stock", "supplier", "money"],
    "stale_tracking": ["tracking", "money", "customers"],
    "supplier": ["supplier", "money"],
}


def iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    return value.isoformat()


# --------------------------------------------------------------------------- sections


def order_section(order: dict, lines: list[dict], products: dict[int, dict], *, contacts: int, rules: PolicyFacts):
    orders_count = order["customer__orders_count"] or 0
    return {
        "number": order["number"],
        "channel": order["channel"],
        "placed_at": iso(order["placed_at"]),
        "value": money(order["total"]),
        "currency": order["currency"],
        "promise_text": order["promise_text"],
        "promised_ship_by": iso(order["promised_ship_by"]),
        "payment_state": order["payment_state"],
        "lines": [
            {
                "sku": line["sku"] or products[line["product_id"]]["sku"],
                "title": line["title"] or products[line["product_id"]]["title"],
                "variant": products[line["product_id"]]["variant_title"],
                "quantity": line["quantity"],
                "allocated": line["allocated"],
                "short": 0 if line["state"] == "cancelled" else line["quantity"] - line["allocated"],
                "unit_price": money(line["unit_price"]),
                "state": line["state"],
            }
            for line in lines
        ],
        "customer": {
            "name": order["customer__name"] or "",
            "email": order["customer__email"] or "",
            "orders_count": orders_count,
            "vip": orders_count >= rules.vip_min_orders,
            "high_value": order["total"] >= rules.high_value_order,
            "prior_contacts": contacts,
        },
    }


def product_section(product: dict, *, waiting_orders: int, waiting_units: int) -> dict:
    title = product_name(product["title"], product["variant_title"])
    section = {
        "sku": product["sku"],
        "title": title,
        "status": product["status"],
        "on_hand": product["on_hand"],
        "allocated": product["allocated"],
        "available": product["available"],
        "waiting_orders": waiting_orders,
        "waiting_units": waiting_units,
        "product_page_wording": product["product_page_wording"],
    }
    if product.get("oversell"):  # only when a channel offers more than the desk has: other packets keep their hash
        section["channel_oversell"] = product["oversell"]
    return section


def _update_row(update: UpdateFacts) -> dict:
    if update.kind == "silence":
        return {
            "received_at": iso(update.received_at),
            "kind": update.kind,
            "stock_status": update.stock_status,
            "strength": update.strength,
            "summary": "No answer: the supplier was chased and has not replied.",
            "source_text": update.source_text,
        }
    summary = update.stock_status.replace("_", " ")
    if update.restock_from or update.restock_to:
        summary += f", restock {iso(update.restock_from) or '?'} to {iso(update.restock_to) or '?'}"
    if update.tracking_number:
        summary += f", tracking {update.tracking_number}"
    return {
        "received_at": iso(update.received_at),
        "kind": update.kind,
        "stock_status": update.stock_status,
        "strength": update.strength,
        "summary": sentence(f"{update.kind.replace('_', ' ').capitalize()}: {summary}"),
        "source_text": update.source_text,
    }


def supplier_section(
    supplier: SupplierFacts,
    *,
    updates: list[UpdateFacts],
    verdict: SupplyVerdict | None,
    eta: Range | None,
    silence_days: int | None,
    dispatch_history: list[str],
) -> dict:
    # a recorded silence says nothing about stock: the proof is the latest thing they did say
    latest = verdict.latest if verdict else next((u for u in updates if u.kind != "silence"), None)
    proof = None
    if latest is not None and latest.stock_status != "unknown":
        proof = (
            f"{latest.stock_status.replace('_', ' ').capitalize()} ({latest.strength}, "
            f"{iso(latest.received_at)[:10]}): {latest.source_text or latest.strength_reason or 'no text kept'}"
        )
    estimate = None
    if latest is not None and (latest.restock_from or latest.restock_to):
        estimate = {"from": iso(latest.restock_from), "to": iso(latest.restock_to), "strength": latest.strength}
    elif eta is not None and not eta.rolling:
        estimate = {"from": iso(eta.start), "to": iso(eta.end), "strength": "weak"}
    dispatches = [
        f"{u.kind.replace('_', ' ').capitalize()} on {iso(u.received_at)[:10]}"
        + (f", tracking {u.tracking_number}" if u.tracking_number else ", no tracking number")
        + f" ({u.strength})."
        for u in updates
        if u.kind in {"dispatch_claim", "pickup_proof"}
    ]
    return {
        "name": supplier.name,
        "stock_proof": proof,
        "restock_estimate": estimate,
        "updates": [_update_row(u) for u in updates[:5]],
        "silence_business_days": silence_days,
        "conflicts": list(verdict.conflicts) if verdict else [],
        "dispatch_history": dispatches + list(dispatch_history),
    }


def tracking_section(shipment: ShipmentFacts, verdict: TrackingVerdict) -> dict:
    return {
        "carrier": shipment.carrier,
        "tracking_number": shipment.tracking_number,
        "status": shipment.status,
        "raw_status": shipment.raw_status,
        "label_created_at": iso(shipment.label_created_at),
        "first_scan_at": iso(verdict.first_scan_at),
        "last_scan_at": iso(verdict.last_scan_at),
        "tracking_age_days": verdict.tracking_age_days,
        "business_days_since_last_scan": verdict.business_days_since_last_scan,
        "international": shipment.international,
        "events": [
            {"occurred_at": iso(e.occurred_at), "status": e.status, "raw_status": e.raw_status, "location": e.location}
            for e in shipment.events
        ],
        "gaps": list(verdict.gaps),
    }


def policy_section(version: int, rule_text: dict[str, str], kind: str) -> dict:
    applied = APPLIED_RULES[kind]
    return {"version": version, "rules": rule_text, "applied": applied}


def assemble(**sections: Any) -> dict:
    """The content dict with exactly the contract's keys; a missing section is null."""
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ValueError(f"Not packet sections: {sorted(unknown)}")
    content = {name: sections.get(name) for name in SECTIONS}
    content["options"] = content["options"] or []
    return content


def customer_risk_section(risk: CustomerRisk) -> dict:
    return risk.as_content()


def order_facts_total(order: OrderFacts | None) -> Decimal | None:
    return order.total if order else None


# --------------------------------------------------------------------------- hash and diff


def _left_out(content: dict) -> dict[str, frozenset[str]]:
    """The fields of each section that the hash and the diff leave out (the clock's counters)."""
    names = dict(VOLATILE)
    if (content.get("case") or {}).get("kind") != "stockout":
        names["product"] = CONTEXT_COUNTERS
    return names


def stable_view(content: dict) -> dict:
    """The content without the clock's counters: what the hash and the diff compare."""
    view = dict(content)
    for section, names in _left_out(content).items():
        if isinstance(view.get(section), dict):
            view[section] = {k: v for k, v in view[section].items() if k not in names}
    return view


def content_hash(content: dict) -> str:
    return Packet.hash_content(stable_view(content))


_canonical = Packet.canonical  # the text ``Packet.hash_content`` hashes
# Each section's name as the canonical text writes it, followed by its colon.
_KEYS = {name: json.dumps(name) + ":" for name in SECTIONS}


class PacketText:
    """Packets' canonical JSON, and that of their stable view, from one encoding of each section.

    A sweep needs three texts of each packet it writes: the stable view's (its facts hash), the
    whole content's (its content hash) and the content itself for ``COPY``. Encoding the content
    three times was a fifth of a first run over a large store. Here each top-level section is
    encoded once and the two documents are joined from the pieces, byte for byte what
    ``Packet.hash_content`` would encode; a section object that reaches a second packet of the
    same run (the policy, a product's supplier block) is encoded once for all of them.
    """

    def __init__(self):
        # sections met once, kept so that their ids stay theirs; then the text of those met again
        self._seen: dict[tuple, Any] = {}
        self._texts: dict[tuple, str] = {}

    def _section(self, value: Any, left_out: frozenset[str] | None = None) -> str:
        if not isinstance(value, dict | list):
            return _canonical(value)
        key = (id(value), left_out)
        text = self._texts.get(key)
        if text is not None:
            return text
        text = _canonical({k: v for k, v in value.items() if k not in left_out} if left_out is not None else value)
        if key in self._seen:
            self._texts[key] = text
        else:
            self._seen[key] = value
        return text

    def encode(self, content: dict) -> tuple[str, str]:
        """(the content's canonical JSON, its stable view's)."""
        left_out = _left_out(content)
        whole, stable = [], []
        for name in sorted(content):
            key = _KEYS.get(name) or json.dumps(name) + ":"
            value = content[name]
            text = self._section(value)
            whole.append(key + text)
            names = left_out.get(name)
            stable.append(key + (self._section(value, names) if names and isinstance(value, dict) else text))
        return "{" + ",".join(whole) + "}", "{" + ",".join(stable) + "}"


def diff(before: dict | None, after: dict) -> list[dict]:
    """What changed, section by section and field by field: each row with what its sentences read of
    the values (``packets.audit.changes.essence``: scalars whole, records and lists of records cut
    down to what differs and to their keys)."""
    from packets.audit.changes import essence

    if before is None:
        return []
    old, new = stable_view(before), stable_view(after)
    changes = []
    for section in SECTIONS:
        a, b = old.get(section), new.get(section)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            for name in sorted(set(a) | set(b)):
                was, now = a.get(name), b.get(name)
                if was != now:
                    if type(was) in _NESTED or type(now) in _NESTED:
                        was, now = essence(was, now)
                    changes.append({"section": section, "field": name, "before": was, "after": now})
        else:
            was, now = essence(a, b)
            changes.append({"section": section, "field": None, "before": was, "after": now})
    return changes


_NESTED = {dict, list}  # the values ``essence`` cuts down (a packet's content is plain JSON types)
