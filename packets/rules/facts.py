"""The facts the rules read: plain frozen dataclasses, filled by the sweep's loader or by a test.

Nothing here touches the database. ``PolicyFacts.from_policy`` only reads attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

# Decision actions, spelled as ``packets.models.Decision.Action`` spells them (a test keeps them equal).
WAIT = "wait"
SWITCH_SUPPLIER = "switch_supplier"
OFFER_REPLACEMENT = "offer_replacement"
CANCEL = "cancel"
REFUND = "refund"
CHASE_SUPPLIER = "chase_supplier"
PAUSE_PRODUCT = "pause_product"
REQUEST_PROOF = "request_proof"
MESSAGE_CUSTOMER = "message_customer"
ESCALATE = "escalate"
OWNER_ONLY_ACTIONS = frozenset({REFUND, CANCEL, SWITCH_SUPPLIER, OFFER_REPLACEMENT})

# Case kinds, categories and risks, spelled as ``packets.models.Case`` spells them.
STOCKOUT, BACKORDER, STALE_TRACKING = "stockout", "backorder", "stale_tracking"
SUPPLIER = "supplier"  # the rules' name for a supplier-silence case (stored as a stockout case: the supply side)
SUPPLIER_OUT_OF_STOCK = "supplier_out_of_stock"
VARIANT_MISSING = "variant_missing"
RESTOCK_DELAY = "restock_delay"
DISCONTINUED = "discontinued"
BACKUP_CANDIDATE = "backup_candidate"
LOW_STOCK = "low_stock"
LABEL_CREATED_ONLY = "label_created_only"
ACCEPTED_NO_MOVEMENT = "accepted_no_movement"
STALE_IN_TRANSIT = "stale_in_transit"
CARRIER_EXCEPTION = "carrier_exception"
DELIVERED_CONFLICT = "delivered_conflict"
WRONG_TRACKING = "wrong_tracking"
EXPIRED_TRACKING = "expired_tracking"
SUPPLIER_SILENCE = "supplier_silence"
UNCLEAR = "unclear"

NORMAL_WATCH = "normal_watch"
SUPPLIER_CHASE = "supplier_chase"
CUSTOMER_UPDATE = "customer_update"
REFUND_RISK = "refund_risk"
OWNER_ONLY = "owner_only"
CHARGEBACK_WATCH = "chargeback_watch"
RISK_RANK = {
    NORMAL_WATCH: 10,
    SUPPLIER_CHASE: 20,
    CUSTOMER_UPDATE: 30,
    REFUND_RISK: 40,
    OWNER_ONLY: 50,
    CHARGEBACK_WATCH: 60,
}

CONFIRMED, WEAK, CONFLICTING, NONE = "confirmed", "weak", "conflicting", "none"


@dataclass(frozen=True)
class PolicyFacts:
    """The parts of a StorePolicy version the rules use. Defaults are the model's defaults."""

    version: int = 1
    stock_watch_at: int = 5
    stock_urgent_at: int = 2
    stock_paused_at: int = 0
    owner_only_waiting_units: int = 20
    no_pickup_business_days: int = 4
    no_scan_domestic_business_days: int = 3
    no_scan_international_business_days: int = 5
    expired_after_days: int = 30
    supplier_silence_business_days: int = 3
    money_boundary: Decimal = Decimal("150.00")
    replacement_boundary: Decimal = Decimal("15.00")
    high_value_order: Decimal = Decimal("250.00")
    vip_min_orders: int = 3
    escalate_negative_sentiment: bool = True
    escalate_below_sentiment: float = -0.5
    first_update_after_hours: int = 48
    long_eta_days: int = 30

    @classmethod
    def from_policy(cls, policy) -> PolicyFacts:
        names = [
            f
            for f in cls.__dataclass_fields__
            if f not in {"escalate_below_sentiment", "first_update_after_hours", "long_eta_days"}
        ]
        values = {name: getattr(policy, name) for name in names}
        steps = [step.get("after_hours", 0) for step in (policy.cadence or []) if step.get("after_hours", 0) > 0]
        return cls(
            **values,
            escalate_below_sentiment=float(policy.escalate_below_sentiment),
            first_update_after_hours=min(steps) if steps else 48,
            long_eta_days=getattr(policy, "long_eta_days", 30),
        )


# --------------------------------------------------------------------------- supply


@dataclass(frozen=True)
class UpdateFacts:
    """One SupplierUpdate."""

    id: int
    supplier_id: int
    supplier_name: str
    product_id: int | None
    kind: str
    stock_status: str
    strength: str
    received_at: datetime
    restock_from: date | None = None
    restock_to: date | None = None
    dispatched_at: datetime | None = None
    tracking_number: str = ""
    strength_reason: str = ""
    conflicts_with_id: int | None = None
    source_text: str = ""


@dataclass(frozen=True)
class SourceFacts:
    """One active SupplierSource with its supplier's transit time."""

    supplier_id: int
    supplier_name: str
    role: str  # primary | backup
    unit_cost: Decimal
    lead_time_days: int
    transit_days: int
    quality_notes: str = ""
    needs_consent: bool = False


@dataclass(frozen=True)
class SupplierFacts:
    id: int
    name: str
    silence_business_days: int | None  # the supplier's own window, overriding the policy's
    last_update_at: datetime | None  # the latest SupplierUpdate from them, about anything


@dataclass(frozen=True)
class ProductSupply:
    """What is known about supplying one product."""

    product_id: int
    status: str  # active | paused | discontinued
    primary: SourceFacts | None
    backups: tuple[SourceFacts, ...] = ()
    supplier: SupplierFacts | None = None  # the primary source's supplier
    updates: tuple[UpdateFacts, ...] = ()  # about this product, newest first
    open_po_quoted_at: date | None = None
    open_po_reference: str = ""


# --------------------------------------------------------------------------- tracking


@dataclass(frozen=True)
class ScanFacts:
    occurred_at: datetime
    status: str
    raw_status: str = ""
    location: str = ""
    country: str = ""
    message: str = ""


@dataclass(frozen=True)
class ShipmentFacts:
    id: int
    status: str
    label_created_at: datetime
    carrier: str = ""
    tracking_number: str = ""
    raw_status: str = ""
    shipped_by: str = "store"
    supplier_name: str = ""
    first_scan_at: datetime | None = None
    last_scan_at: datetime | None = None
    delivered_at: datetime | None = None
    destination_postal_code: str = ""
    destination_country: str = ""
    order_postal_code: str = ""
    order_city: str = ""
    international: bool = False
    events: tuple[ScanFacts, ...] = ()  # oldest first
    not_received_claimed_at: datetime | None = None  # a customer message after delivery says it never came


# --------------------------------------------------------------------------- customers


@dataclass(frozen=True)
class InboundFacts:
    received_at: datetime
    sentiment: float | None
    intents: tuple[str, ...] = ()
    escalated: bool = False


@dataclass(frozen=True)
class OrderFacts:
    """What the risk rules need to know about an order and its customer."""

    total: Decimal
    placed_at: datetime
    promised_ship_by: date | None = None
    payment_state: str = "paid"
    orders_count: int = 0
    customer_silent_since: datetime | None = None
    inbound: tuple[InboundFacts, ...] = field(default_factory=tuple)

    def is_vip(self, policy: PolicyFacts) -> bool:
        return self.orders_count >= policy.vip_min_orders

    def is_high_value(self, policy: PolicyFacts) -> bool:
        return self.total >= policy.high_value_order
