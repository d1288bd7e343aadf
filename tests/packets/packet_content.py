"""A packet content dict shaped exactly like the packet content contract, for tests.

``contract_content()`` gives a stockout on one order with every section filled; pass keyword
arguments to replace whole top-level sections (``tracking=None`` for a case without a parcel).
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

CONTRACT_KEYS = {
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
}


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def option(action: str, label: str, **fields) -> dict:
    return {
        "action": action,
        "label": label,
        "cost": None,
        "margin_impact": None,
        "shipping_days_difference": None,
        "quality_risk": "none",
        "needs_customer_consent": False,
        "needs_owner": False,
        "notes": "",
        **fields,
    }


def contract_content(*, now=None, order_number="#1042", sku="MUG-SAGE", **sections) -> dict:
    now = now or timezone.now()
    content = {
        "summary": (
            f"Order {order_number} waits on {sku}: the supplier is out of stock and expects a restock in 2–3 weeks."
        ),
        "case": {
            "kind": "stockout",
            "category": "supplier_out_of_stock",
            "category_label": "Supplier out of stock",
            "title": f"Order {order_number} waits on {sku}",
            "opened_at": _iso(now - timedelta(days=3)),
        },
        "order": {
            "number": order_number,
            "channel": "shopify",
            "placed_at": _iso(now - timedelta(days=4)),
            "value": "84.20",
            "currency": "USD",
            "promise_text": "Ships in 2–4 business days",
            "promised_ship_by": (now + timedelta(days=1)).date().isoformat(),
            "payment_state": "paid",
            "lines": [
                {
                    "sku": sku,
                    "title": "Stoneware Mug",
                    "variant": "Sage",
                    "quantity": 2,
                    "allocated": 0,
                    "short": 2,
                    "unit_price": "24.00",
                    "state": "backordered",
                },
                {
                    "sku": "BOWL-S",
                    "title": "Serving Bowl",
                    "variant": "Small",
                    "quantity": 1,
                    "allocated": 1,
                    "short": 0,
                    "unit_price": "36.20",
                    "state": "allocated",
                },
            ],
            "customer": {
                "name": "Ada Adams",
                "email": "ada@example.com",
                "orders_count": 4,
                "vip": True,
                "high_value": False,
                "prior_contacts": 1,
            },
        },
        "product": {
            "sku": sku,
            "title": "Stoneware Mug (Sage)",
            "status": "active",
            "on_hand": 0,
            "allocated": 0,
            "available": 0,
            "waiting_orders": 3,
            "waiting_units": 5,
            "product_page_wording": "In stock, ships in 2–4 business days",
        },
        "supplier": {
            "name": "Northwind Ceramics",
            "stock_proof": None,
            "restock_estimate": {
                "from": (now + timedelta(days=14)).date().isoformat(),
                "to": (now + timedelta(days=21)).date().isoformat(),
                "strength": "weak",
            },
            "updates": [
                {
                    "received_at": _iso(now - timedelta(days=2)),
                    "kind": "stock_status",
                    "stock_status": "out_of_stock",
                    "strength": "confirmed",
                    "summary": "Out of stock on the sage glaze.",
                    "source_text": "Sorry, sage is out until the next kiln run.",
                },
                {
                    "received_at": _iso(now - timedelta(days=1)),
                    "kind": "restock_estimate",
                    "stock_status": "out_of_stock",
                    "strength": "weak",
                    "summary": "Restock 'in two or three weeks', no date.",
                    "source_text": "Probably two or three weeks.",
                },
            ],
            "silence_business_days": 1,
            "conflicts": [],
            "dispatch_history": ["Last 5 purchase orders: 4 on time, 1 three days late."],
        },
        "tracking": None,
        "options": [
            option("wait", "Wait for the restock", notes="Tell the customer the range, offer to cancel."),
            option(
                "offer_replacement",
                "Offer the Blue mug instead",
                cost="0.00",
                margin_impact="0.00",
                shipping_days_difference=-10,
                quality_risk="low",
                needs_customer_consent=True,
                needs_owner=True,
            ),
            option("refund", "Refund the two mugs", cost="48.00", margin_impact="-29.00", needs_owner=True),
            option("chase_supplier", "Ask Northwind for a firm date"),
        ],
        "policy": {
            "version": 1,
            "rules": {
                "stock": "Watch at 5 free units or fewer.",
                "money": "Refunds, cancellations, supplier switches and anything over 150.00 need the owner.",
            },
            "applied": ["stock", "money"],
        },
        "customer_risk": {
            "urgency": "medium",
            "repeat_contact": 1,
            "intents": ["where_is_my_order"],
            "sentiment": -0.2,
            "signals": ["Asked once where the order is."],
        },
        "risk_level": "customer_update",
        "recommendation": {"action": "wait", "reason": "The supplier confirmed the stockout and gave a range."},
        "evidence": {
            "strength": "confirmed",
            "uncertainty": ["The restock range rests on an estimate the supplier did not put in writing."],
        },
    }
    unknown = set(sections) - CONTRACT_KEYS
    if unknown:
        raise KeyError(f"Not contract sections: {sorted(unknown)}")
    content.update(sections)
    return content


def tracking_section(*, now=None) -> dict:
    now = now or timezone.now()
    return {
        "carrier": "UPS",
        "tracking_number": "1Z999AA10123456784",
        "status": "in_transit",
        "raw_status": "InTransit",
        "label_created_at": _iso(now - timedelta(days=9)),
        "first_scan_at": _iso(now - timedelta(days=8)),
        "last_scan_at": _iso(now - timedelta(days=6)),
        "tracking_age_days": 9,
        "business_days_since_last_scan": 4,
        "international": False,
        "events": [
            {
                "occurred_at": _iso(now - timedelta(days=8)),
                "status": "accepted",
                "raw_status": "Origin Scan",
                "location": "Portland, OR",
            },
            {
                "occurred_at": _iso(now - timedelta(days=6)),
                "status": "in_transit",
                "raw_status": "Departed Facility",
                "location": "Reno, NV",
            },
        ],
        "gaps": ["No scan for 4 business days (the policy allows 3 domestic)."],
    }


def case_with_packet(content: dict | None = None, *, version: int = 1, changes=None, **case_fields):
    """A case and its packet, the case's summary columns matching the packet as the sweep sets them."""
    from packets.models import Case
    from tests import factories

    content = content or contract_content()
    risk = content["risk_level"]
    case_fields.setdefault("kind", content["case"]["kind"])
    case_fields.setdefault("category", content["case"]["category"])
    case_fields.setdefault("title", content["case"]["title"])
    case_fields.setdefault("risk_level", risk)
    case_fields.setdefault("risk_rank", Case.RISK_RANK[risk])
    case_fields.setdefault("recommended_action", content["recommendation"]["action"])
    case_fields.setdefault("evidence_strength", content["evidence"]["strength"])
    case = factories.CaseFactory(**case_fields)
    packet = factories.PacketFactory(
        case=case,
        version=version,
        content=content,
        changes=changes or [],
        recommendation=content["recommendation"]["action"],
        recommendation_reason=content["recommendation"]["reason"],
        evidence_strength=content["evidence"]["strength"],
        risk_level=risk,
    )
    return case, packet
