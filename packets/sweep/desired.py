"""What the sweep wants to exist: one ``Desired`` case per dedupe key, with its packet content."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from packets.models import Case

CATEGORY_LABELS = dict(Case.Category.choices)
RISK_LABELS = dict(Case.Risk.choices)


@dataclass
class Desired:
    key: str
    kind: str
    category: str
    title: str
    risk_level: str
    recommended_action: str
    recommendation_reason: str
    evidence_strength: str
    content: dict
    order_id: int | None = None
    product_id: int | None = None
    shipment_id: int | None = None
    supplier_id: int | None = None
    promise_at_risk: bool = False
    customer_silent_since: datetime | None = None
    escalation_reasons: list[str] = field(default_factory=list)
    order_total: Decimal | None = None  # what the queue's rank reads of the order
    order_promised_ship_by: date | None = None
    content_json: str = ""  # the content's canonical JSON, once the sweep has hashed it
