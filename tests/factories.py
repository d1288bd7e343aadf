"""factory-boy factories for every domain model. No fixed primary keys, no cross-test state."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import factory
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from backorders.models import Channel, Customer, Order, OrderLine, Product, Shipment, StorePolicy, TrackingEvent
from packets.models import Case, Decision, InboundMessage, Message, Packet
from suppliers.models import PurchaseOrder, PurchaseOrderLine, Supplier, SupplierSource, SupplierUpdate


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")

    @factory.post_generation
    def password(self, create, extracted, **kwargs):
        self.set_password(extracted or "correct horse battery staple")
        if create:
            self.save(update_fields=["password"])


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    title = factory.Sequence(lambda n: f"Product {n}")
    price = Decimal("40.00")
    cost = Decimal("18.00")
    on_hand = 10
    allocated = 0


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"Customer {n}")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    channel = Channel.SHOPIFY
    external_id = factory.Sequence(lambda n: str(5_000_000_000_000 + n))
    # far from the numbers tests spell out (#1042, #9999): one number is one order across CSV and Shopify
    number = factory.Sequence(lambda n: f"#{700_000 + n}")
    customer = factory.SubFactory(CustomerFactory)
    placed_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=2))
    subtotal = Decimal("40.00")
    total = Decimal("45.00")


class OrderLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderLine

    order = factory.SubFactory(OrderFactory)
    product = factory.SubFactory(ProductFactory)
    sku = factory.SelfAttribute("product.sku")
    title = factory.SelfAttribute("product.title")
    quantity = 1
    unit_price = factory.SelfAttribute("product.price")


class ShipmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Shipment

    order = factory.SubFactory(OrderFactory)
    carrier = "UPS"
    tracking_number = factory.Sequence(lambda n: f"1Z999AA1{n:010d}")
    label_created_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))


class TrackingEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TrackingEvent

    shipment = factory.SubFactory(ShipmentFactory)
    status = "in_transit"
    raw_status = "InTransit"
    occurred_at = factory.LazyFunction(timezone.now)


class SupplierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Supplier

    name = factory.Sequence(lambda n: f"Supplier {n}")
    code = factory.Sequence(lambda n: f"sup-{n}")
    email = factory.Sequence(lambda n: f"orders@supplier{n}.example")


class SupplierSourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SupplierSource

    supplier = factory.SubFactory(SupplierFactory)
    product = factory.SubFactory(ProductFactory)
    unit_cost = Decimal("18.00")


class SupplierUpdateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SupplierUpdate

    supplier = factory.SubFactory(SupplierFactory)
    product = factory.SubFactory(ProductFactory)
    kind = SupplierUpdate.Kind.STOCK_STATUS
    stock_status = SupplierUpdate.StockStatus.OUT_OF_STOCK
    strength = SupplierUpdate.Strength.CONFIRMED
    source_text = "We are out of stock on this item."


class PurchaseOrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PurchaseOrder

    supplier = factory.SubFactory(SupplierFactory)
    reference = factory.Sequence(lambda n: f"PO-{n:05d}")


class PurchaseOrderLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PurchaseOrderLine

    purchase_order = factory.SubFactory(PurchaseOrderFactory)
    product = factory.SubFactory(ProductFactory)
    quantity = 10


class CaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Case

    kind = Case.Kind.BACKORDER
    category = Case.Category.RESTOCK_DELAY
    order = factory.SubFactory(OrderFactory)
    dedupe_key = factory.LazyAttribute(lambda c: f"backorder:order:{c.order.pk}")
    title = factory.LazyAttribute(lambda c: f"Order {c.order.number} waits on stock")
    # the queue fields the sweep copies from the order
    order_total = factory.LazyAttribute(lambda c: c.order.total if c.order else None)
    order_promised_ship_by = factory.LazyAttribute(lambda c: c.order.promised_ship_by if c.order else None)


class PacketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Packet

    case = factory.SubFactory(CaseFactory)
    version = 1
    policy = factory.LazyFunction(lambda: StorePolicy.objects.current())
    content = factory.LazyFunction(lambda: {"facts": {}})
    recommendation = "wait"
    evidence_strength = "weak"
    risk_level = Case.Risk.NORMAL_WATCH


class DecisionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Decision

    case = factory.SubFactory(CaseFactory)
    action = Decision.Action.CHASE_SUPPLIER
    decided_by = factory.SubFactory(UserFactory)


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    channel = Message.Channel.EMAIL
    to = "customer@example.com"
    subject = "An update on your order"
    body = factory.LazyFunction(
        lambda: (
            "Your order is waiting on stock. We expect it to ship between Dec 2 and Dec 9. "
            f"You can cancel at no cost here: {settings.SITE_URL}/o/example-token/"
        )
    )
    idempotency_key = factory.Sequence(lambda n: f"test-message-{n}")


class InboundMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InboundMessage

    body = "Where is my order?"


class BackorderedLineFactory(OrderLineFactory):
    """A line that waits for stock: nothing allocated yet, backordered when its order was placed."""

    state = OrderLine.State.BACKORDERED
    backordered_at = factory.SelfAttribute("order.placed_at")


class StoreActionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "packets.StoreAction"

    case = factory.SubFactory(CaseFactory)
    decision = factory.SubFactory(DecisionFactory, case=factory.SelfAttribute("..case"), action="cancel")
    order = factory.SelfAttribute("case.order")
    platform = "shopify"
    kind = "cancel"
    plan = factory.LazyAttribute(lambda a: {"order_gid": f"gid://shopify/Order/{a.order.external_id}"})
    idempotency_key = factory.Sequence(lambda n: f"bd-test-{n}")


class OutboundSubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "packets.OutboundSubscription"

    url = factory.Sequence(lambda n: f"http://127.0.0.1:9/hook-{n}")
