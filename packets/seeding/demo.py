"""A realistic demo store: five suppliers, about forty SKUs, three hundred orders over 45 days.

Everything is placed relative to "now", so the stale shipments are stale whenever the demo is
loaded. Randomness is seeded: two loads on the same day build the same store. Stock is
consistent by construction: orders are replayed in time order against each product's opening
stock, and ``on_hand``/``allocated`` are what that replay leaves.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from backorders.models import Customer, Order, OrderLine, Product, Shipment, StorePolicy, TrackingEvent
from backorders.roles import OWNER, SUPPORT, ensure_groups
from packets.models import InboundMessage
from packets.seeding.demo_supply import SupplyHistory
from suppliers.models import PurchaseOrder, PurchaseOrderLine, Supplier, SupplierSource

DEMO_USERS = [
    # username, password, group, first name, is_staff (may open the Django admin)
    ("owner", "backorder-owner", OWNER, "Olivia", True),
    ("support", "backorder-support", SUPPORT, "Sam", False),
]

SUPPLIERS = [
    # code, name, email, transit days, notes
    ("northwind", "Northwind Ceramics", "orders@northwind-ceramics.example", 3, "Reliable; answers within a day."),
    ("harbor", "Harbor Textiles", "sales@harbortextiles.example", 4, "Usually on time; vague restock dates."),
    ("copperline", "Copperline Goods", "hello@copperline.example", 6, "Often late, goes quiet for days."),
    ("alpine", "Alpine Outdoor Supply", "trade@alpine-outdoor.example", 3, "Backup source for kettles."),
    ("lumen", "Lumen Lighting Co.", "support@lumenlighting.example", 5, "Conflicting stock reports lately."),
]

# code, title, variants, supplier, price, cost, opening stock of the short variants (others get plenty)
CATALOG = [
    ("MUG", "Stoneware Mug", ["Red", "Blue", "Sage", "Charcoal"], "northwind", "24.00", "9.50", {"Sage": 3}),
    ("BOWL", "Serving Bowl", ["Small", "Large"], "northwind", "38.00", "15.00", {}),
    ("CARAFE", "Glass Carafe", [""], "northwind", "32.00", "12.00", {}),
    ("PLANTER", "Ceramic Planter", ["S", "M", "L"], "northwind", "29.00", "11.00", {"L": 6}),
    ("THROW", "Linen Throw", ["Oat", "Rust", "Slate"], "harbor", "89.00", "36.00", {"Rust": 4}),
    ("CUSHION", "Wool Cushion Cover", ["Cream", "Ochre", "Forest"], "harbor", "45.00", "17.00", {}),
    ("CANDLE", "Beeswax Candle", ["Set of 2", "Set of 4"], "harbor", "18.00", "6.00", {}),
    ("TOTE", "Canvas Tote", ["Natural", "Black"], "harbor", "22.00", "7.50", {}),
    ("TOWEL", "Tea Towel Set", ["Stripe", "Check"], "harbor", "19.00", "6.50", {}),
    ("KETTLE", "Copper Kettle", ["1.5 L", "2 L"], "copperline", "129.00", "58.00", {"2 L": 2, "1.5 L": 9}),
    ("SKILLET", "Cast Iron Skillet", ["10 in", "12 in"], "copperline", "64.00", "27.00", {"12 in": 8}),
    ("POUROVER", "Pour-Over Coffee Set", [""], "copperline", "54.00", "21.00", {"": 1}),
    ("CAMPMUG", "Enamel Camp Mug", ["White", "Navy"], "alpine", "16.00", "5.50", {}),
    ("BOARD", "Walnut Cutting Board", ["Medium", "Large"], "alpine", "58.00", "23.00", {}),
    ("THERMOS", "Trail Thermos", ["500 ml", "750 ml"], "alpine", "34.00", "13.00", {"750 ml": 14}),
    ("LAMP", "Brass Desk Lamp", ["Brass", "Black"], "lumen", "149.00", "66.00", {"Black": 2}),
    ("SHADE", "Pendant Shade", ["Small", "Medium", "Large"], "lumen", "79.00", "31.00", {"Large": 1}),
    ("CLOCK", "Wall Clock", ["Oak", "Black"], "lumen", "69.00", "27.00", {}),
]

FIRST = "Ada Ben Cleo Dev Ema Finn Gia Hugo Ines Jon Kai Lea Milo Nia Omar Pia Quinn Rosa Sol Tara".split()
LAST = "Adams Brooks Chen Diaz Evans Fischer Garcia Hughes Ito Jensen Kowalski Lopez Moreau Novak".split()
CITIES = [("Portland", "OR", "97205"), ("Austin", "TX", "73301"), ("Denver", "CO", "80202"), ("Boston", "MA", "02108")]

ANGRY_REPLIES = [
    (
        "Still nothing??",
        "It has been three weeks. If this isn't shipped by Friday I will dispute the charge with my bank.",
    ),
    (
        "Order never arrived",
        "Tracking says delivered but I never received anything. I want a refund or I will file a chargeback.",
    ),
    ("Cancel please", "Please cancel my order and refund me, I can't wait any longer."),
    ("Terrible service", "This is ridiculous. Nobody answers. I'm leaving a 1-star review everywhere."),
    ("Where is my order?", "Hi, any update on when my order will ship? Thanks."),
    ("Lawyer", "This is unacceptable and frankly fraud. My lawyer will be in touch."),
]


@dataclass
class DemoSummary:
    created: bool
    products: int
    orders: int
    logins: list[tuple[str, str, str]]


def ensure_users() -> list[tuple[str, str, str]]:
    User = get_user_model()
    logins = []
    for username, password, group, first_name, is_staff in DEMO_USERS:
        user, _ = User.objects.get_or_create(username=username, defaults={"first_name": first_name})
        user.first_name = first_name
        user.is_staff = is_staff
        user.is_superuser = is_staff  # the demo owner may use the Django admin for everything
        user.email = f"{username}@backorder-desk.example"
        user.set_password(password)
        user.save()
        user.groups.add(ensure_groups()[group])
        logins.append((group, username, password))
    return logins


def seed_demo(*, now=None) -> DemoSummary:
    logins = ensure_users()
    if Supplier.objects.filter(code="northwind").exists():
        return DemoSummary(False, Product.objects.count(), Order.objects.count(), logins)
    with transaction.atomic():
        _Builder(now or timezone.now()).build()
    return DemoSummary(True, Product.objects.count(), Order.objects.count(), logins)


class _Builder(SupplyHistory):
    def __init__(self, now):
        self.now = now
        self.rng = random.Random(2026)
        self.policy = StorePolicy.objects.current()

    def ago(self, days: float = 0, hours: float = 0):
        return self.now - timedelta(days=days, hours=hours)

    # ----------------------------------------------------------------- catalog

    def build(self) -> None:
        self.suppliers = {
            code: Supplier.objects.create(
                code=code, name=name, email=email, transit_days=transit, notes=notes, contact_name=name.split()[0]
            )
            for code, name, email, transit, notes in SUPPLIERS
        }
        self.products: list[Product] = []
        self.opening: dict[int, int] = {}
        for index, (code, title, variants, supplier_code, price, cost, short) in enumerate(CATALOG):
            for variant in variants:
                sku = "-".join(part for part in [code, variant.upper().replace(" ", "").replace(".", "")] if part)
                product = Product.objects.create(
                    sku=sku,
                    title=title,
                    variant_title=variant,
                    price=Decimal(price),
                    cost=Decimal(cost),
                    shopify_product_id=str(7_100_000_000_000 + index),
                    shopify_variant_id=str(44_100_000_000_000 + len(self.products)),
                    shopify_inventory_item_id=str(46_200_000_000_000 + len(self.products)),
                    product_page_wording="In stock, ships in 1–2 business days.",
                )
                SupplierSource.objects.create(
                    supplier=self.suppliers[supplier_code],
                    product=product,
                    role=SupplierSource.Role.PRIMARY,
                    unit_cost=Decimal(cost),
                    lead_time_days=self.rng.choice([5, 7, 10]),
                )
                self.products.append(product)
                self.opening[product.pk] = short.get(variant, self.rng.randint(40, 90))
        self.by_sku = {p.sku: p for p in self.products}
        # One product has a backup source: a slightly dearer kettle from Alpine, needing consent.
        kettle = self.by_sku["KETTLE-2L"]
        SupplierSource.objects.create(
            supplier=self.suppliers["alpine"],
            product=kettle,
            role=SupplierSource.Role.BACKUP,
            unit_cost=Decimal("66.00"),
            lead_time_days=4,
            quality_notes="Stainless handle instead of brass; same capacity. Customers may notice.",
            replacement_needs_consent=True,
        )
        self.by_sku["SHADE-LARGE"].status = Product.Status.DISCONTINUED
        self.by_sku["SHADE-LARGE"].save(update_fields=["status"])
        self.build_orders()
        self.build_shipments()
        self.build_supplier_evidence()
        self.build_purchase_history()
        self.build_inbound()

    # ----------------------------------------------------------------- orders

    def build_orders(self) -> None:
        customers = []
        for i in range(170):
            name = f"{self.rng.choice(FIRST)} {self.rng.choice(LAST)}"
            customers.append(
                Customer(
                    name=name,
                    email=f"{name.lower().replace(' ', '.')}{i}@example.com",
                    phone=f"+1555{1000000 + i:07d}",
                    sms_opt_in=i % 4 == 0,
                    preferred_channel=Customer.ContactChannel.SMS if i % 8 == 0 else Customer.ContactChannel.EMAIL,
                    orders_count=self.rng.choice([0, 0, 0, 1, 1, 2, 3, 5, 8]),
                )
            )
        Customer.objects.bulk_create(customers)
        customers = list(Customer.objects.order_by("id"))
        stock = dict(self.opening)
        hot = [self.by_sku[s] for s in ["KETTLE-2L", "THROW-RUST", "MUG-SAGE", "POUROVER"]]
        self.orders: list[Order] = []
        placed = sorted(self.ago(days=self.rng.uniform(0.05, 45)) for _ in range(300))
        for n, placed_at in enumerate(placed):
            customer = customers[self.rng.randrange(len(customers))]
            channel = "woocommerce" if n % 5 == 0 else "shopify"
            city, region, postal = self.rng.choice(CITIES)
            international = n % 23 == 0
            order = Order.objects.create(
                channel=channel,
                external_id=str(5_900_000_000_000 + n) if channel == "shopify" else str(2000 + n),
                number=f"#{1001 + n}" if channel == "shopify" else f"WC-{2000 + n}",
                customer=customer,
                placed_at=placed_at,
                shipping_method="Express" if n % 11 == 0 else "Standard",
                express=n % 11 == 0,
                promised_ship_by=(placed_at + timedelta(days=3)).date(),
                promise_text="Ships in 1–3 business days",
                shipping_name=customer.name,
                shipping_city="Toronto" if international else city,
                shipping_region="ON" if international else region,
                shipping_postal_code="M5V 2T6" if international else postal,
                shipping_country="CA" if international else "US",
                payment_state=Order.PaymentState.PAID,
            )
            products = self.rng.sample(self.products, self.rng.choice([1, 1, 1, 2, 2, 3]))
            if n % 6 == 0:
                products[0] = self.rng.choice(hot)
            subtotal = Decimal("0.00")
            for position, product in enumerate(dict.fromkeys(products)):
                quantity = self.rng.choice([1, 1, 1, 2])
                take = min(quantity, max(stock[product.pk], 0))
                if take < quantity and product.status == Product.Status.DISCONTINUED:
                    take = 0
                stock[product.pk] -= take
                state = (
                    OrderLine.State.ALLOCATED
                    if take == quantity
                    else (OrderLine.State.PARTIAL if take else OrderLine.State.BACKORDERED)
                )
                OrderLine.objects.create(
                    order=order,
                    product=product,
                    external_id=str(13_000_000_000 + n * 10 + position),
                    sku=product.sku,
                    title=product.display_title,
                    quantity=quantity,
                    allocated=take,
                    unit_price=product.price,
                    state=state,
                    backordered_at=None if take == quantity else placed_at,
                )
                subtotal += product.price * quantity
            order.subtotal = subtotal
            order.total = subtotal + Decimal("6.95")
            order.save(update_fields=["subtotal", "total"])
            self.orders.append(order)
        self.stock_left = stock

    # ----------------------------------------------------------------- shipments and scans

    def scan(self, shipment, status, raw, days_ago, location="", message="", **extra):
        return TrackingEvent.objects.create(
            shipment=shipment,
            status=status,
            raw_status=raw,
            occurred_at=self.ago(days=days_ago),
            location=location,
            message=message or raw,
            source=extra.get("source", "aftership"),
            country=extra.get("country", "US"),
        )

    def ship(self, order, days_ago, carrier="UPS", **fields) -> Shipment:
        return Shipment.objects.create(
            order=order,
            carrier=carrier,
            tracking_number=f"1Z{order.pk:06d}{self.rng.randint(10**9, 10**10 - 1)}",
            label_created_at=self.ago(days=days_ago),
            destination_country=order.shipping_country,
            destination_postal_code=order.shipping_postal_code,
            **fields,
        )

    def finish(self, shipment) -> None:
        events = list(shipment.events.order_by("occurred_at"))
        last = events[-1] if events else None
        scans = [e for e in events if e.status != "label_created"]
        shipment.status = last.status if last else "label_created"
        shipment.raw_status = last.raw_status if last else "InfoReceived"
        shipment.first_scan_at = scans[0].occurred_at if scans else None
        shipment.last_scan_at = scans[-1].occurred_at if scans else None
        shipment.delivered_at = last.occurred_at if last and last.status == "delivered" else None
        shipment.save()

    def build_shipments(self) -> None:
        fully_allocated = [
            o for o in self.orders if all(line.state == OrderLine.State.ALLOCATED for line in o.lines.all())
        ]
        older = [o for o in fully_allocated if o.placed_at < self.ago(days=12)]
        recent = [o for o in fully_allocated if self.ago(days=12) <= o.placed_at < self.ago(days=1)]
        # The stale ones: each kind of trouble, placed on recent orders so the clocks are real.
        special = recent[:16]
        kinds = [
            "label_only",
            "label_only",
            "accepted_still",
            "accepted_still",
            "stale_transit",
            "stale_transit",
            "exception",
            "exception",
            "delivered_conflict",
            "wrong_tracking",
            "expired",
            "unclear",
            "inside_window",
            "inside_window",
            "dropship_label_only",
            "international_ok",
        ]
        for order, kind in zip(special, kinds, strict=False):
            self.make_special_shipment(order, kind)
        for order in older + recent[16:]:
            self.make_normal_shipment(order)

    def make_normal_shipment(self, order) -> None:
        age = (self.now - order.placed_at).days
        shipment = self.ship(order, days_ago=max(age - 1, 0.5))
        self.scan(shipment, "label_created", "InfoReceived", max(age - 1, 0.5))
        if age >= 2:
            self.scan(shipment, "accepted", "InTransit_PickedUp", age - 1.5, "Portland, OR")
            self.scan(shipment, "in_transit", "InTransit", max(age - 2.5, 0.3), "Salt Lake City, UT")
        if age >= 5:
            self.scan(shipment, "delivered", "Delivered", age - 4, order.shipping_city)
        self.finish(shipment)
        self.mark_shipped(order, shipment)

    def make_special_shipment(self, order, kind) -> None:
        if kind == "expired":
            order.placed_at = self.ago(days=36)
            order.save(update_fields=["placed_at"])
            shipment = self.ship(order, 35, carrier="USPS")
        elif kind == "dropship_label_only":
            shipment = self.ship(
                order, 8, carrier="FedEx", shipped_by=Shipment.ShippedBy.SUPPLIER, supplier_name="Copperline Goods"
            )
            self.scan(shipment, "label_created", "InfoReceived", 8)
        elif kind == "label_only":
            shipment = self.ship(order, 9)
            self.scan(shipment, "label_created", "InfoReceived", 9)
        elif kind == "accepted_still":
            shipment = self.ship(order, 10)
            self.scan(shipment, "label_created", "InfoReceived", 10)
            self.scan(shipment, "accepted", "InTransit_PickedUp", 9, "Portland, OR")
        elif kind == "stale_transit":
            shipment = self.ship(order, 12)
            self.scan(shipment, "label_created", "InfoReceived", 12)
            self.scan(shipment, "accepted", "InTransit_PickedUp", 11.5, "Portland, OR")
            self.scan(shipment, "in_transit", "InTransit", 10, "Reno, NV")
        elif kind == "exception":
            shipment = self.ship(order, 6)
            self.scan(shipment, "label_created", "InfoReceived", 6)
            self.scan(shipment, "accepted", "InTransit_PickedUp", 5, "Portland, OR")
            self.scan(shipment, "exception", "Exception_BadAddress", 2, "Denver, CO", "Address incomplete; held")
        elif kind == "delivered_conflict":
            shipment = self.ship(order, 7)
            self.scan(shipment, "label_created", "InfoReceived", 7)
            self.scan(shipment, "accepted", "InTransit_PickedUp", 6.5, "Portland, OR")
            self.scan(shipment, "delivered", "Delivered", 3, order.shipping_city)
            InboundMessage.objects.create(
                customer=order.customer,
                order=order,
                from_address=order.customer.email,
                subject="Order never arrived",
                body=ANGRY_REPLIES[1][1],
                received_at=self.ago(days=1),
            )
        elif kind == "wrong_tracking":
            shipment = self.ship(order, 6)
            shipment.destination_postal_code = "33101"  # the carrier is taking it to Miami
            shipment.save(update_fields=["destination_postal_code"])
            self.scan(shipment, "label_created", "InfoReceived", 6)
            self.scan(shipment, "accepted", "InTransit_PickedUp", 5.5, "Atlanta, GA")
            self.scan(shipment, "delivered", "Delivered", 4, "Miami, FL")
        elif kind == "unclear":
            shipment = self.ship(order, 5, carrier="OnTrac")
            self.scan(shipment, "label_created", "InfoReceived", 5)
            self.scan(shipment, "unknown", "Status 97: see carrier", 3, "", "Carrier returned an unrecognized status")
        elif kind == "international_ok":
            shipment = self.ship(order, 5, carrier="DHL")
            self.scan(shipment, "label_created", "InfoReceived", 5)
            self.scan(shipment, "accepted", "InTransit_PickedUp", 4.5, "Portland, OR")
            self.scan(shipment, "in_transit", "InTransit_CustomsCleared", 1, "Toronto, ON", country="CA")
        else:  # inside_window: moving normally, nothing to do
            shipment = self.ship(order, 2)
            self.scan(shipment, "label_created", "InfoReceived", 2)
            self.scan(shipment, "accepted", "InTransit_PickedUp", 1.5, "Portland, OR")
            self.scan(shipment, "in_transit", "InTransit", 0.5, "Boise, ID")
        self.finish(shipment)
        self.mark_shipped(order, shipment)

    def mark_shipped(self, order, shipment) -> None:
        """Shipped units leave the warehouse: they stop counting as on hand and as allocated."""
        for line in order.lines.all():
            line.shipped = line.allocated
            line.state = OrderLine.State.SHIPPED
            line.shipped_at = shipment.label_created_at
            line.save(update_fields=["shipped", "state", "shipped_at"])
        if shipment.status == "delivered":
            order.status = Order.Status.FULFILLED
            order.save(update_fields=["status"])

    # ----------------------------------------------------------------- stock totals and replies

    def build_inbound(self) -> None:
        # Stock on hand is the opening stock less what shipped; allocated is what waits in the warehouse.
        shipped = defaultdict(int)
        held = defaultdict(int)
        on_order = defaultdict(int)
        for line in OrderLine.objects.all():
            shipped[line.product_id] += line.shipped
            held[line.product_id] += line.allocated - line.shipped
        for line in PurchaseOrderLine.objects.filter(purchase_order__status=PurchaseOrder.Status.SENT):
            on_order[line.product_id] += line.quantity - line.received_quantity
        for product in self.products:
            product.on_hand = self.opening[product.pk] - shipped[product.pk]
            product.allocated = held[product.pk]
            product.on_order = on_order[product.pk]
        Product.objects.bulk_update(self.products, ["on_hand", "allocated", "on_order"])
        waiting = list(
            Order.objects.filter(lines__state__in=["backordered", "partial"]).distinct().order_by("placed_at")
        )
        for order, (subject, body) in zip(
            waiting[:10], [ANGRY_REPLIES[i] for i in (0, 2, 3, 4, 5, 4, 2, 0, 4, 3)], strict=False
        ):
            InboundMessage.objects.create(
                customer=order.customer,
                order=order,
                from_address=order.customer.email,
                subject=subject,
                body=body,
                received_at=max(order.placed_at + timedelta(days=1), self.ago(hours=6)),
            )
