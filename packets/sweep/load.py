"""The sweep's reads: every fact it needs, in a fixed number of queries, whatever the store's size.

Each query is a ``values()`` read (or an aggregate) of one kind of fact; Python joins them by id
(a list of ids goes as one array parameter). No query runs per line, per order or per case.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Count, F, JSONField, Max, Min, OuterRef, Q, Subquery, Sum
from django.db.models.functions import JSONObject

from backorders.bulk import InList
from backorders.calendar import BusinessCalendar
from backorders.models import ChannelStock, Order, OrderLine, Product, Shipment, StorePolicy, TrackingEvent
from packets.models import Case, InboundMessage, Message, Packet
from packets.rules.facts import PolicyFacts, ScanFacts, SourceFacts, SupplierFacts, UpdateFacts
from suppliers.models import PurchaseOrder, PurchaseOrderLine, Supplier, SupplierSource, SupplierUpdate

WAITING_STATES = (OrderLine.State.BACKORDERED, OrderLine.State.PARTIAL)
RECENT_SALES_DAYS = 14  # "recent sales" for the stock thresholds
DELIVERED_LOOKBACK_DAYS = 30  # delivered parcels stay in view this long (wrong address, not received)
UPDATE_LOOKBACK_DAYS = 120  # supplier evidence older than this no longer describes today
DISPATCH_HISTORY = 3  # received purchase orders shown per supplier
PLATFORMS = dict(ChannelStock.Platform.choices)
SWEPT_PREFIXES = ("backorder:order:", "stockout:product:", "tracking:shipment:", "silence:supplier:")


@dataclass(frozen=True)
class Scope:
    """What an incremental run reads and rebuilds (``packets.sweep.dirty.expand``).

    ``keys``: the case keys rebuilt. ``orders``/``shipments``: read with their lines, parcels and
    customers. ``products``: every waiting line of these is read, so their waiting counts are whole.
    """

    keys: frozenset[str]
    orders: frozenset[int]
    products: frozenset[int]
    shipments: frozenset[int]


@dataclass
class Snapshot:
    now: datetime
    policy: StorePolicy
    rules: PolicyFacts
    calendar: BusinessCalendar
    today: date
    unscored: list[dict] = field(default_factory=list)
    lines_by_order: dict[int, list[dict]] = field(default_factory=dict)
    waiting_by_order: dict[int, list[dict]] = field(default_factory=dict)
    waiting_by_product: dict[int, list[dict]] = field(default_factory=dict)
    products: dict[int, dict] = field(default_factory=dict)
    products_by_title: dict[str, list[dict]] = field(default_factory=dict)
    recent_units: dict[int, int] = field(default_factory=dict)
    recent_oldest: dict[int, datetime] = field(default_factory=dict)  # its oldest recent sale, for the clock
    sources: dict[int, list[SourceFacts]] = field(default_factory=dict)  # product -> primary first
    primary_supplier: dict[int, int] = field(default_factory=dict)  # product -> supplier id
    suppliers: dict[int, SupplierFacts] = field(default_factory=dict)
    supplier_ids_by_name: dict[str, int] = field(default_factory=dict)
    updates_by_product: dict[int, list[UpdateFacts]] = field(default_factory=dict)
    updates_by_supplier: dict[int, list[UpdateFacts]] = field(default_factory=dict)
    open_po: dict[int, tuple[date, str]] = field(default_factory=dict)
    dispatch_history: dict[int, list[str]] = field(default_factory=dict)
    orders: dict[int, dict] = field(default_factory=dict)
    shipments: list[dict] = field(default_factory=list)
    shipments_by_order: dict[int, list[dict]] = field(default_factory=dict)
    events: dict[int, list[ScanFacts]] = field(default_factory=dict)
    inbound_by_order: dict[int, list[dict]] = field(default_factory=dict)
    prior_contacts: dict[int, int] = field(default_factory=dict)
    last_sent: dict[int, datetime] = field(default_factory=dict)
    open_cases: dict[str, dict] = field(default_factory=dict)
    latest_packets: dict[int, dict] = field(default_factory=dict)
    scope: Scope | None = None  # None: the whole store


CASE_FIELDS = (
    "id",
    "dedupe_key",
    "kind",
    "category",
    "status",
    "title",
    "risk_level",
    "risk_rank",
    "order_id",
    "product_id",
    "shipment_id",
    "supplier_id",
    "promise_at_risk",
    "customer_silent_since",
    "order_total",
    "order_promised_ship_by",
    "recommended_action",
    "evidence_strength",
    "opened_at",
    "resolved_at",
    "resolution",
    "reply_due_at",  # read for the clock, never written by the sweep
    "reply_overdue",
)


def swept_cases_filter() -> Q:
    q = Q()
    for prefix in SWEPT_PREFIXES:
        q |= Q(dedupe_key__startswith=prefix)
    return q


def latest_packet_version() -> Subquery:
    return Subquery(Packet.objects.filter(case_id=OuterRef("case_id")).order_by("-version").values("version")[:1])


def load(now: datetime, scope: Scope | None = None) -> Snapshot:
    """Every fact the sweep needs; with a ``scope``, those of its orders, products and parcels
    (the catalog and the suppliers are read whole: they are small beside the orders)."""
    policy = StorePolicy.objects.current()
    calendar = BusinessCalendar.for_policy(policy)
    snap = Snapshot(
        now=now,
        policy=policy,
        rules=PolicyFacts.from_policy(policy),
        calendar=calendar,
        today=calendar.local_date(now),
        scope=scope,
    )
    unscored = InboundMessage.objects.filter(sentiment__isnull=True)
    if scope is not None:
        unscored = unscored.filter(Q(order_id__isnull=True) | Q(InList("order_id", scope.orders)))
    snap.unscored = list(unscored.values("id", "subject", "body"))
    _load_lines_and_shipments(snap)
    _load_catalog(snap)
    _load_supply(snap)
    _load_customers(snap)
    _load_cases(snap)
    return snap


def candidate_shipments(now: datetime):
    recent = now - timedelta(days=DELIVERED_LOOKBACK_DAYS)
    return Shipment.objects.exclude(order__status=Order.Status.CANCELLED).filter(
        ~Q(status="delivered") | Q(delivered_at__gte=recent) | Q(delivered_at__isnull=True, updated_at__gte=recent)
    )


def _load_lines_and_shipments(snap: Snapshot) -> None:
    home = getattr(settings, "STORE_COUNTRY", "US").upper()
    shipments = candidate_shipments(snap.now)
    scope = snap.scope
    if scope is not None:
        shipments = shipments.filter(Q(InList("id", scope.shipments)) | Q(InList("order_id", scope.orders)))
    snap.shipments = list(
        shipments.values(
            "id",
            "order_id",
            "carrier",
            "tracking_number",
            "status",
            "raw_status",
            "shipped_by",
            "supplier_name",
            "label_created_at",
            "first_scan_at",
            "last_scan_at",
            "delivered_at",
            "destination_postal_code",
            "destination_country",
            "order__shipping_postal_code",
            "order__shipping_city",
            "order__shipping_country",
        )
    )
    for row in snap.shipments:
        country = (row["destination_country"] or row["order__shipping_country"] or home).upper()
        row["international"] = country != home
        snap.shipments_by_order.setdefault(row["order_id"], []).append(row)
    events = TrackingEvent.objects.filter(shipment_id__in=shipments.values("id")).order_by("occurred_at", "id")
    for e in events.values("shipment_id", "occurred_at", "status", "raw_status", "location", "country", "message"):
        snap.events.setdefault(e.pop("shipment_id"), []).append(ScanFacts(**e))

    # Plain reads without joins: the order's status is checked below, from the orders read anyway.
    waiting = OrderLine.objects.filter(state__in=WAITING_STATES)
    if scope is not None:
        waiting = waiting.filter(InList("product_id", scope.products))
    relevant = set(waiting.values_list("order_id", flat=True)) | {row["order_id"] for row in snap.shipments}
    if scope is not None:
        relevant |= scope.orders
    for line in (
        OrderLine.objects.filter(InList("order_id", relevant))
        .order_by("order_id", "id")
        .values(
            "id",
            "order_id",
            "product_id",
            "sku",
            "title",
            "quantity",
            "allocated",
            "unit_price",
            "state",
            "backordered_at",
        )
    ):
        snap.lines_by_order.setdefault(line["order_id"], []).append(line)
    order_ids = list(relevant)
    snap.orders = {
        row["id"]: row
        for row in Order.objects.filter(InList("id", order_ids)).values(
            "id",
            "number",
            "channel",
            "status",
            "placed_at",
            "total",
            "currency",
            "promise_text",
            "promised_ship_by",
            "payment_state",
            "customer_id",
            "customer__name",
            "customer__email",
            "customer__orders_count",
        )
    }
    for order_id, lines in snap.lines_by_order.items():
        if snap.orders[order_id]["status"] != Order.Status.OPEN:
            continue
        short = [line for line in lines if line["state"] in WAITING_STATES and line["allocated"] < line["quantity"]]
        if short:
            snap.waiting_by_order[order_id] = short
            for line in short:
                snap.waiting_by_product.setdefault(line["product_id"], []).append(line)


def open_oversell() -> Subquery:
    """The product's channel that last offered more than the desk had, while the desk's number has
    not been set there since: {platform, channel, desk} (a packet fact), else null. Read with the
    catalog, in the same query."""
    rows = ChannelStock.objects.filter(product=OuterRef("pk"), mismatch_at__isnull=False).filter(
        Q(pushed_at__isnull=True) | Q(pushed_at__lt=F("mismatch_at"))
    )
    found = JSONObject(platform=F("platform"), channel=F("mismatch_channel"), desk=F("mismatch_desk"))
    return Subquery(rows.order_by("-mismatch_at").values(found=found)[:1], output_field=JSONField())


def _load_catalog(snap: Snapshot) -> None:
    for row in Product.objects.annotate(oversell=open_oversell()).values(
        "id",
        "sku",
        "title",
        "variant_title",
        "price",
        "cost",
        "status",
        "on_hand",
        "allocated",
        "product_page_wording",
        "oversell",
    ):
        row["available"] = row["on_hand"] - row["allocated"]
        if row["oversell"]:
            row["oversell"]["platform"] = PLATFORMS.get(row["oversell"]["platform"], row["oversell"]["platform"])
        snap.products[row["id"]] = row
        snap.products_by_title.setdefault(row["title"], []).append(row)
    since = snap.now - timedelta(days=RECENT_SALES_DAYS)
    recent = (
        OrderLine.objects.filter(order__placed_at__gte=since)
        .exclude(state=OrderLine.State.CANCELLED)
        .values("product_id")
        .annotate(units=Sum("quantity"), oldest=Min("order__placed_at"))
    )
    if snap.scope is not None:
        recent = recent.filter(InList("product_id", snap.scope.products))
    snap.recent_units, snap.recent_oldest = {}, {}
    for row in recent:
        snap.recent_units[row["product_id"]] = row["units"]
        snap.recent_oldest[row["product_id"]] = row["oldest"]


def _update(row: dict) -> UpdateFacts:
    return UpdateFacts(
        id=row["id"],
        supplier_id=row["supplier_id"],
        supplier_name=row["supplier__name"],
        product_id=row["product_id"],
        kind=row["kind"],
        stock_status=row["stock_status"],
        strength=row["strength"],
        received_at=row["received_at"],
        restock_from=row["restock_from"],
        restock_to=row["restock_to"],
        dispatched_at=row["dispatched_at"],
        tracking_number=row["tracking_number"],
        strength_reason=row["strength_reason"],
        conflicts_with_id=row["conflicts_with_id"],
        source_text=row["source_text"],
    )


def _load_supply(snap: Snapshot) -> None:
    talked = Max("updates__received_at", filter=~Q(updates__kind=SupplierUpdate.Kind.SILENCE))
    for row in Supplier.objects.annotate(last=talked).values("id", "name", "silence_business_days", "active", "last"):
        snap.suppliers[row["id"]] = SupplierFacts(row["id"], row["name"], row["silence_business_days"], row["last"])
        snap.supplier_ids_by_name[row["name"].casefold()] = row["id"]
    sources = SupplierSource.objects.filter(active=True).order_by("product_id", "role", "supplier_id")
    for row in sources.values(
        "product_id",
        "supplier_id",
        "supplier__name",
        "supplier__transit_days",
        "role",
        "unit_cost",
        "lead_time_days",
        "quality_notes",
        "replacement_needs_consent",
    ):
        fact = SourceFacts(
            supplier_id=row["supplier_id"],
            supplier_name=row["supplier__name"],
            role=row["role"],
            unit_cost=row["unit_cost"],
            lead_time_days=row["lead_time_days"],
            transit_days=row["supplier__transit_days"],
            quality_notes=row["quality_notes"],
            needs_consent=row["replacement_needs_consent"],
        )
        snap.sources.setdefault(row["product_id"], []).append(fact)
        if row["role"] == SupplierSource.Role.PRIMARY:
            snap.primary_supplier[row["product_id"]] = row["supplier_id"]
    since = snap.now - timedelta(days=UPDATE_LOOKBACK_DAYS)
    updates = SupplierUpdate.objects.filter(received_at__gte=since).order_by("-received_at", "-id")
    for row in updates.values(
        "id",
        "supplier_id",
        "supplier__name",
        "product_id",
        "kind",
        "stock_status",
        "strength",
        "received_at",
        "restock_from",
        "restock_to",
        "dispatched_at",
        "tracking_number",
        "strength_reason",
        "conflicts_with_id",
        "source_text",
    ):
        update = _update(row)
        snap.updates_by_supplier.setdefault(update.supplier_id, []).append(update)
        if update.product_id:
            snap.updates_by_product.setdefault(update.product_id, []).append(update)
    open_lines = PurchaseOrderLine.objects.filter(
        purchase_order__status__in=[
            PurchaseOrder.Status.SENT,
            PurchaseOrder.Status.APPROVED,
            PurchaseOrder.Status.PARTIAL,
        ]
    ).order_by("purchase_order__quoted_at", "id")
    for row in open_lines.values("product_id", "purchase_order__quoted_at", "purchase_order__reference"):
        if row["purchase_order__quoted_at"] and row["product_id"] not in snap.open_po:
            snap.open_po[row["product_id"]] = (row["purchase_order__quoted_at"], row["purchase_order__reference"])
    history = PurchaseOrder.objects.filter(
        status=PurchaseOrder.Status.RECEIVED, received_at__gte=snap.now - timedelta(days=365)
    ).order_by("supplier_id", "-received_at")
    per_supplier: dict[int, list[str]] = defaultdict(list)
    for row in history.values("supplier_id", "reference", "quoted_at", "received_at"):
        if len(per_supplier[row["supplier_id"]]) >= DISPATCH_HISTORY:
            continue
        arrived = snap.calendar.local_date(row["received_at"])
        late = (arrived - row["quoted_at"]).days if row["quoted_at"] else None
        when = "no quote" if late is None else (f"{late} days late" if late > 0 else "on time")
        per_supplier[row["supplier_id"]].append(
            f"{row['reference']}: quoted {row['quoted_at']:%b %-d}, arrived {arrived:%b %-d} ({when})."
            if row["quoted_at"]
            else f"{row['reference']}: arrived {arrived:%b %-d} ({when})."
        )
    snap.dispatch_history = dict(per_supplier)


def _load_customers(snap: Snapshot) -> None:
    order_ids = list(snap.orders)
    for row in (
        InboundMessage.objects.filter(InList("order_id", order_ids))
        .order_by("received_at", "id")
        .values("id", "order_id", "case_id", "received_at", "sentiment", "intents", "escalated")
    ):
        snap.inbound_by_order.setdefault(row["order_id"], []).append(row)
    customer_ids = {row["customer_id"] for row in snap.orders.values() if row["customer_id"]}
    contacts = (
        InboundMessage.objects.filter(InList("customer_id", customer_ids)).values("customer_id").annotate(n=Count("id"))
    )
    snap.prior_contacts = {row["customer_id"]: row["n"] for row in contacts}
    sent = (
        Message.objects.filter(
            InList("order_id", order_ids), audience=Message.Audience.CUSTOMER, status=Message.Status.SENT
        )
        .values("order_id")
        .annotate(last=Max("sent_at"))
    )
    snap.last_sent = {row["order_id"]: row["last"] for row in sent}


def _load_cases(snap: Snapshot) -> None:
    open_cases = Case.objects.open().filter(swept_cases_filter())
    if snap.scope is not None:
        open_cases = open_cases.filter(InList("dedupe_key", snap.scope.keys))
    snap.open_cases = {
        row["dedupe_key"]: row | {"status_was": row["status"]} for row in open_cases.values(*CASE_FIELDS)
    }
    latest = Packet.objects.filter(case__in=open_cases, version=latest_packet_version())
    snap.latest_packets = {row["case_id"]: row for row in latest.values("id", "case_id", "version", "facts_sha256")}
