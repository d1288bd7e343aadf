"""A full, contract-shaped ``Packet.content`` with real-looking facts, for tests that print packets.

Every top-level key of the packet content contract is present; dates are ISO 8601 UTC strings
and money is decimal strings. Pass keyword overrides to replace whole sections.
"""

from __future__ import annotations

import copy
import datetime as dt
import subprocess
import tempfile
from decimal import Decimal
from pathlib import Path

from backorders.models import StorePolicy

_BASE = {
    "summary": (
        "Order #1042 waits on 2 Linen Apron (Sage, M); the supplier says it is out of stock until late March, "
        "and the customer has written twice."
    ),
    "case": {
        "kind": "backorder",
        "category": "supplier_out_of_stock",
        "category_label": "Supplier out of stock",
        "title": "Order #1042 waits on the Linen Apron (Sage, M)",
        "opened_at": "2026-03-02T14:05:00Z",
    },
    "order": {
        "number": "#1042",
        "channel": "shopify",
        "placed_at": "2026-02-27T18:41:00Z",
        "value": "84.20",
        "currency": "USD",
        "promise_text": "Ships in 3-5 business days",
        "promised_ship_by": "2026-03-05T00:00:00Z",
        "payment_state": "paid",
        "lines": [
            {
                "sku": "APR-LIN-SAG-M",
                "title": "Linen Apron",
                "variant": "Sage / M",
                "quantity": 2,
                "allocated": 0,
                "short": 2,
                "unit_price": "34.00",
                "state": "waiting",
            },
            {
                "sku": "TWL-WAF-NAT",
                "title": "Waffle Tea Towel",
                "variant": "Natural",
                "quantity": 1,
                "allocated": 1,
                "short": 0,
                "unit_price": "16.20",
                "state": "allocated",
            },
        ],
        "customer": {
            "name": "Priya Raman",
            "email": "priya.raman@example.com",
            "orders_count": 4,
            "vip": True,
            "high_value": False,
            "prior_contacts": 2,
        },
    },
    "product": {
        "sku": "APR-LIN-SAG-M",
        "title": "Linen Apron (Sage, M)",
        "status": "active",
        "on_hand": 0,
        "allocated": 0,
        "available": 0,
        "waiting_orders": 6,
        "waiting_units": 9,
        "product_page_wording": "Ships in 3-5 business days",
    },
    "supplier": {
        "name": "Harbor Textiles",
        "stock_proof": None,
        "restock_estimate": {"from": "2026-03-23", "to": "2026-04-03", "strength": "weak"},
        "updates": [
            {
                "received_at": "2026-03-02T16:20:00Z",
                "kind": "stock_status",
                "stock_status": "out_of_stock",
                "strength": "confirmed",
                "summary": "Out of stock on sage linen; new fabric lot expected.",
                "source_text": "Hi, sage linen is out at the mill. We expect the next lot in about three weeks.",
            },
            {
                "received_at": "2026-03-06T09:02:00Z",
                "kind": "restock_estimate",
                "stock_status": "out_of_stock",
                "strength": "weak",
                "summary": "Restock 'end of March', no PO confirmation.",
                "source_text": "Should be end of March, will confirm once the mill ships.",
            },
        ],
        "silence_business_days": 4,
        "conflicts": ["The product page still promises 3-5 business days while the supplier is out."],
        "dispatch_history": ["Last 5 restocks arrived 2-9 days after the quoted date."],
    },
    "tracking": None,
    "options": [
        {
            "action": "wait",
            "label": "Wait for the restock",
            "cost": None,
            "margin_impact": "0.00",
            "shipping_days_difference": 21,
            "quality_risk": "none",
            "needs_customer_consent": True,
            "needs_owner": False,
            "notes": "Customer has asked twice; a clear date range is needed.",
        },
        {
            "action": "switch_supplier",
            "label": "Order from Northwind Linen (backup)",
            "cost": "22.40",
            "margin_impact": "-8.80",
            "shipping_days_difference": 6,
            "quality_risk": "medium: different fabric weight",
            "needs_customer_consent": False,
            "needs_owner": True,
            "notes": "Backup supplier has 40 in stock per their feed.",
        },
        {
            "action": "refund",
            "label": "Refund the aprons",
            "cost": "68.00",
            "margin_impact": "-68.00",
            "shipping_days_difference": None,
            "quality_risk": "none",
            "needs_customer_consent": True,
            "needs_owner": True,
            "notes": "Keeps the tea towel shipment.",
        },
    ],
    "policy": {
        "version": 1,
        "rules": {},
        "applied": ["supplier", "money", "customers"],
    },
    "customer_risk": {
        "urgency": "high",
        "repeat_contact": 2,
        "intents": ["where_is_my_order", "cancel_threat"],
        "sentiment": -0.42,
        "signals": ["Second message in three days", "Mentions a birthday on March 14"],
    },
    "risk_level": "owner_only",
    "recommendation": {
        "action": "switch_supplier",
        "reason": (
            "The backup supplier has stock and ships within a week; the primary's estimate is weak and the "
            "customer is a VIP who has written twice."
        ),
    },
    "evidence": {
        "strength": "weak",
        "uncertainty": [
            "The restock date is the supplier's guess, not a confirmed purchase order.",
            "The backup supplier's stock comes from a feed last refreshed yesterday.",
        ],
    },
}

CONTRACT_KEYS = frozenset(_BASE)


def packet_content(policy: StorePolicy | None = None, **sections) -> dict:
    """A fresh contract-shaped content dict; ``policy`` fills in its version and rule text."""
    content = copy.deepcopy(_BASE)
    if policy is not None:
        content["policy"] = {**content["policy"], "version": policy.version, "rules": policy.rule_text()}
    unknown = set(sections) - CONTRACT_KEYS
    if unknown:
        raise KeyError(f"Not in the packet content contract: {sorted(unknown)}")
    content.update(sections)
    return content


def decided_case(*, owner, support, policy: StorePolicy):
    """A case as an auditor meets it: two packet versions, the owner's approved decision on v2,
    two messages sent to the customer and a trail of about ten audit rows."""
    from packets.models import AuditEvent, Case, Decision, Message
    from tests import factories

    opened = dt.datetime(2026, 3, 2, 14, 5, tzinfo=dt.UTC)
    customer = factories.CustomerFactory(name="Priya Raman", email="priya.raman@example.com")
    order = factories.OrderFactory(number="#1042", customer=customer, placed_at=opened - dt.timedelta(days=3))
    case = factories.CaseFactory(
        order=order,
        kind=Case.Kind.BACKORDER,
        category=Case.Category.SUPPLIER_OUT_OF_STOCK,
        title="Order #1042 waits on the Linen Apron (Sage, M)",
        opened_at=opened,
        risk_level=Case.Risk.OWNER_ONLY,
    )
    first = packet_content(policy, recommendation={"action": "wait", "reason": "The supplier expects stock soon."})
    v1 = factories.PacketFactory(
        case=case, version=1, policy=policy, content=first, created_at=opened, recommendation="wait"
    )
    v2 = factories.PacketFactory(
        case=case,
        version=2,
        policy=policy,
        content=packet_content(policy),
        created_at=opened + dt.timedelta(days=4),
        recommendation="switch_supplier",
        recommendation_reason=_BASE["recommendation"]["reason"],
        evidence_strength="weak",
        risk_level=Case.Risk.OWNER_ONLY,
        changes=[
            {"section": "recommendation", "field": "action", "before": "wait", "after": "switch_supplier"},
            {"section": "supplier", "field": "restock_estimate.strength", "before": "confirmed", "after": "weak"},
        ],
    )
    decided_at = opened + dt.timedelta(days=4, hours=2)
    decision = factories.DecisionFactory(
        case=case,
        packet=v2,
        action=Decision.Action.SWITCH_SUPPLIER,
        status=Decision.Status.APPROVED,
        decided_by=support,
        decided_at=decided_at,
        approved_by=owner,
        approved_at=decided_at + dt.timedelta(minutes=47),
        amount=Decimal("44.80"),
        note="Order two from Northwind Linen; tell Priya the new ship window.",
    )
    sent = []
    for n, (subject, body) in enumerate(
        [
            (
                "Your Linen Apron order #1042",
                "Hi Priya, the sage linen for your aprons is delayed at our supplier. We are checking a second "
                "workshop and will write again by Friday with a ship window.",
            ),
            (
                "Good news on order #1042",
                "Hi Priya, your two aprons now come from our backup workshop and should ship between March 9 and "
                "March 11. Your tea towel ships with them.",
            ),
        ]
    ):
        at = opened + dt.timedelta(days=1, hours=1) if n == 0 else decided_at + dt.timedelta(hours=1, minutes=10)
        sent.append(
            factories.MessageFactory(
                case=case,
                order=order,
                customer=customer,
                to=customer.email,
                subject=subject,
                body=body,
                status=Message.Status.SENT,
                approved_by=owner,
                approved_at=at,
                queued_at=at,
                sent_at=at + dt.timedelta(seconds=12),
                provider_id=f"<20260303.{n}@mail.example>",
                attempts=1,
            )
        )
    trail = [
        (opened, None, "case.opened", "Case opened by the sweep: backorder, supplier out of stock."),
        (opened, None, "packet.created", "Packet v1 built (recommendation: wait)."),
        (
            opened + dt.timedelta(hours=2, minutes=15),
            support,
            "supplier.update",
            "Supplier reply pasted: out of stock.",
        ),
        (sent[0].approved_at, owner, "message.approved", "Delay notice approved."),
        (sent[0].sent_at, None, "message.sent", "Delay notice sent by email."),
        (opened + dt.timedelta(days=4), None, "packet.created", "Packet v2 built (recommendation: switch supplier)."),
        (decided_at, support, "decision.proposed", "Switch supplier proposed for order #1042."),
        (decision.approved_at, owner, "decision.approved", "Switch supplier approved (44.80)."),
        (sent[1].approved_at, owner, "message.approved", "New ship window approved."),
        (sent[1].sent_at, None, "message.sent", "New ship window sent by email."),
        (decision.approved_at + dt.timedelta(minutes=1), owner, "case.status", "open → actioned."),
    ]
    for at, actor, action, summary in trail:
        AuditEvent.objects.create(
            at=at,
            actor=actor,
            actor_label=actor.get_username() if actor else "system",
            action=action,
            case=case,
            summary=summary,
        )
    return case, v1, v2, decision


def pdf_text(pdf: bytes) -> str:
    """The text of a PDF as poppler's pdftotext reads it (Debian package poppler-utils)."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "doc.pdf"
        source.write_bytes(pdf)
        subprocess.run(["pdftotext", str(source), str(source.with_suffix(".txt"))], check=True)
        return source.with_suffix(".txt").read_text()
