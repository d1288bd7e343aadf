"""The decision side of a scale store: one open backorder case per waiting order, with its packet.

A mixin of ``scale._Writer``: it writes, with ``COPY``, each case, its contract-shaped packet
(version 1) and its ``case.opened`` audit row, from the same plan as the orders and lines.
"""

from __future__ import annotations

import json
from datetime import timedelta

from django.core.serializers.json import DjangoJSONEncoder

from backorders.bulk import copy_rows
from packets.models import AuditEvent, Case, Packet
from packets.seeding.scale_plan import product_sku

CATEGORIES = [
    Case.Category.SUPPLIER_OUT_OF_STOCK,
    Case.Category.RESTOCK_DELAY,
    Case.Category.SUPPLIER_OUT_OF_STOCK,
    Case.Category.BACKUP_CANDIDATE,
    Case.Category.RESTOCK_DELAY,
]
RISKS = [
    Case.Risk.NORMAL_WATCH,
    Case.Risk.CUSTOMER_UPDATE,
    Case.Risk.SUPPLIER_CHASE,
    Case.Risk.CUSTOMER_UPDATE,
    Case.Risk.REFUND_RISK,
    Case.Risk.NORMAL_WATCH,
    Case.Risk.OWNER_ONLY,
    Case.Risk.CHARGEBACK_WATCH,
]


CASE_CHUNK = 10_000  # cases (with their packet and audit row) held in memory at once


class CaseRows:
    """Rows of cases, packets and audit events for ``_Writer`` (its plan, clock, policy and names)."""

    def write_cases(self) -> None:
        p = self.plan
        # in chunks, so a store of any size is written in bounded memory
        for first in range(1, p.cases + 1, CASE_CHUNK):
            last = min(p.cases, first + CASE_CHUNK - 1)
            cases, packets, audits = [], [], []
            for n in range(first, last + 1):
                product = 1 + n % p.short_products
                supplier = self.supplier_of(product)
                risk = RISKS[n % len(RISKS)]
                category = CATEGORIES[n % len(CATEGORIES)]
                placed = self.placed_at(n)
                opened = placed + timedelta(hours=1)
                awaiting = Case.RISK_RANK[risk] >= Case.RISK_RANK[Case.Risk.OWNER_ONLY]
                recommendation = (
                    "wait" if risk in (Case.Risk.NORMAL_WATCH, Case.Risk.CUSTOMER_UPDATE) else "chase_supplier"
                )
                title = f"Order #S{n} waits on {product_sku(product)}"
                cases.append(
                    (
                        n,
                        "backorder",
                        category,
                        "awaiting_owner" if awaiting else "open",
                        risk,
                        Case.RISK_RANK[risk],
                        f"backorder:order:{n}",
                        title,
                        n,
                        product,
                        supplier,
                        n % 3 == 0,
                        placed,
                        recommendation,
                        "weak",
                        opened,
                    )
                )
                content = self.packet_content(
                    n, product, supplier, category, risk, recommendation, title, placed, opened
                )
                packets.append(
                    (
                        n,
                        n,
                        1,
                        self.policy.pk,
                        opened,
                        json.dumps(content, cls=DjangoJSONEncoder),
                        Packet.hash_content(content),
                        recommendation,
                        content["recommendation"]["reason"],
                        "weak",
                        risk,
                    )
                )
                audits.append((n, opened, "system", "case.opened", n, "packets.case", str(n), f"Opened: {title}"))
            copy_rows(
                Case,
                [
                    "id",
                    "kind",
                    "category",
                    "status",
                    "risk_level",
                    "risk_rank",
                    "dedupe_key",
                    "title",
                    "order_id",
                    "product_id",
                    "supplier_id",
                    "promise_at_risk",
                    "customer_silent_since",
                    "recommended_action",
                    "evidence_strength",
                    "opened_at",
                ],
                cases,
            )
            copy_rows(
                Packet,
                [
                    "id",
                    "case_id",
                    "version",
                    "policy_id",
                    "created_at",
                    "content",
                    "content_sha256",
                    "recommendation",
                    "recommendation_reason",
                    "evidence_strength",
                    "risk_level",
                ],
                packets,
            )
            copy_rows(
                AuditEvent,
                ["id", "at", "actor_label", "action", "case_id", "object_type", "object_id", "summary"],
                audits,
            )
            Case.objects.filter(pk__range=(first, last)).copy_order_facts()

    def packet_content(self, n, product, supplier, category, risk, recommendation, title, placed, opened) -> dict:
        sku = product_sku(product)
        customer = 1 + n % self.plan.customers
        reason = (
            "The supplier's restock estimate is weak; keep the customer informed with a date range."
            if recommendation == "wait"
            else "The supplier has gone quiet on a short product; chase them before the promise date passes."
        )
        return {
            "summary": f"Order #S{n} waits on 1 {sku}; the supplier says it is out of stock.",
            "case": {
                "kind": "backorder",
                "category": category,
                "category_label": Case.Category(category).label,
                "title": title,
                "opened_at": opened,
            },
            "order": {
                "number": f"#S{n}",
                "channel": "shopify",
                "placed_at": placed,
                "value": "166.95",
                "currency": "USD",
                "promise_text": "Ships in 1–3 business days",
                "promised_ship_by": placed + timedelta(days=3),
                "payment_state": "paid",
                "lines": [
                    {
                        "sku": sku,
                        "title": f"Scale item {product // 3}",
                        "variant": "",
                        "quantity": 1,
                        "allocated": 0,
                        "short": 1,
                        "unit_price": "40.00",
                        "state": "waiting",
                    }
                ],
                "customer": {
                    "name": self.customer_name(customer),
                    "email": f"customer{customer}@example.com",
                    "orders_count": customer % 6,
                    "vip": customer % 6 >= 3,
                    "high_value": False,
                    "prior_contacts": n % 3,
                },
            },
            "product": {
                "sku": sku,
                "title": f"Scale item {product // 3}",
                "status": "active",
                "on_hand": 0,
                "allocated": 0,
                "available": 0,
                "waiting_orders": self.plan.cases // self.plan.short_products,
                "waiting_units": self.plan.cases // self.plan.short_products,
                "product_page_wording": "Ships in 1–3 business days",
            },
            "supplier": {
                "name": f"Scale Supplier {supplier:02d}",
                "stock_proof": None,
                "restock_estimate": None,
                "updates": [
                    {
                        "received_at": self.now - timedelta(days=1 + product % 5),
                        "kind": "stock_status",
                        "stock_status": "out_of_stock",
                        "strength": "weak",
                        "summary": "Out for now.",
                        "source_text": "Out for now, next lot in about three weeks.",
                    }
                ],
                "silence_business_days": 0,
                "conflicts": [],
                "dispatch_history": [],
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
                    "notes": "",
                },
                {
                    "action": "refund",
                    "label": "Refund the line",
                    "cost": "40.00",
                    "margin_impact": "-40.00",
                    "shipping_days_difference": None,
                    "quality_risk": "none",
                    "needs_customer_consent": True,
                    "needs_owner": True,
                    "notes": "",
                },
            ],
            "policy": {"version": self.policy.version, "rules": self.rules, "applied": ["supplier", "customers"]},
            "customer_risk": {
                "urgency": "normal",
                "repeat_contact": n % 3,
                "intents": [],
                "sentiment": None,
                "signals": [],
            },
            "risk_level": risk,
            "recommendation": {"action": recommendation, "reason": reason},
            "evidence": {
                "strength": "weak",
                "uncertainty": ["The restock date is the supplier's guess, not a confirmed purchase order."],
            },
        }
