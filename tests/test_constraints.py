"""Every invariant that money and stock depend on is enforced by the database itself.

Each row writes straight through ``QuerySet.update`` or ``create`` (no forms, no model
validation) and expects the database to refuse.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from backorders.models import Customer, Order, OrderLine, Product, Shipment, StorePolicy
from packets.models import Case, Decision, Message, Packet
from suppliers.models import PurchaseOrderLine, SupplierSource, SupplierUpdate
from tests import factories

pytestmark = pytest.mark.django_db


def refused(write) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        write()


@pytest.mark.parametrize(
    "changes",
    [
        {"on_hand": -1},
        {"allocated": -1},
        {"on_hand": 3, "allocated": 4},
        {"on_order": -5},
        {"price": Decimal("-0.01")},
        {"cost": Decimal("-1")},
    ],
    ids=["on_hand<0", "allocated<0", "allocated>on_hand", "on_order<0", "price<0", "cost<0"],
)
def test_it_refuses_impossible_stock_and_prices(changes):
    product = factories.ProductFactory(on_hand=5, allocated=2)
    refused(lambda: Product.objects.filter(pk=product.pk).update(**changes))


def test_it_refuses_a_second_product_with_the_same_sku_or_shopify_variant():
    factories.ProductFactory(sku="MUG-RED", shopify_variant_id="44000000000000001")
    refused(lambda: Product.objects.create(sku="MUG-RED", title="dup"))
    refused(lambda: Product.objects.create(sku="MUG-BLUE", title="x", shopify_variant_id="44000000000000001"))
    # an empty channel id is not a duplicate of another empty one
    Product.objects.create(sku="MUG-GREEN", title="a")
    Product.objects.create(sku="MUG-PINK", title="b")


def test_it_refuses_the_same_external_order_id_twice_on_one_channel_but_not_across_channels():
    order = factories.OrderFactory(channel="shopify", external_id="820982911946154508")
    refused(lambda: factories.OrderFactory(channel="shopify", external_id=order.external_id))
    factories.OrderFactory(channel="woocommerce", external_id=order.external_id)


@pytest.mark.parametrize(
    "changes",
    [
        {"quantity": 0},
        {"allocated": 3},  # quantity is 2
        {"shipped": 2},  # allocated is 1
        {"unit_price": Decimal("-3")},
    ],
    ids=["quantity=0", "allocated>quantity", "shipped>allocated", "price<0"],
)
def test_it_keeps_order_lines_within_their_quantity(changes):
    line = factories.OrderLineFactory(quantity=2, allocated=1)
    refused(lambda: OrderLine.objects.filter(pk=line.pk).update(**changes))


def test_it_refuses_a_cancelled_order_without_a_cancellation_time_and_negative_totals():
    order = factories.OrderFactory()
    refused(lambda: Order.objects.filter(pk=order.pk).update(status="cancelled"))
    refused(lambda: Order.objects.filter(pk=order.pk).update(total=Decimal("-1")))
    Order.objects.filter(pk=order.pk).update(status="cancelled", cancelled_at=timezone.now())


def test_it_treats_customer_emails_as_case_insensitive_and_sms_needs_a_phone():
    factories.CustomerFactory(email="Ada@Example.com")
    refused(lambda: Customer.objects.create(email="ada@example.com"))
    refused(lambda: Customer.objects.create(email="bob@example.com", sms_opt_in=True, phone=""))


def test_it_refuses_shipments_without_tracking_or_with_scans_out_of_order():
    shipment = factories.ShipmentFactory()
    refused(lambda: Shipment.objects.filter(pk=shipment.pk).update(tracking_number=""))
    now = timezone.now()
    refused(
        lambda: Shipment.objects.filter(pk=shipment.pk).update(first_scan_at=now, last_scan_at=now - timedelta(days=1))
    )
    refused(lambda: factories.ShipmentFactory(order=shipment.order, tracking_number=shipment.tracking_number))


def test_it_refuses_thresholds_out_of_order_and_a_coverage_outside_0_1():
    policy = StorePolicy.objects.current()
    refused(lambda: StorePolicy.objects.filter(pk=policy.pk).update(stock_urgent_at=9, stock_watch_at=5))
    refused(lambda: StorePolicy.objects.filter(pk=policy.pk).update(eta_coverage=Decimal("1.00")))


def test_it_allows_one_active_primary_source_per_product():
    source = factories.SupplierSourceFactory(role="primary")
    refused(lambda: factories.SupplierSourceFactory(product=source.product, role="primary"))
    factories.SupplierSourceFactory(product=source.product, role="backup")
    refused(lambda: SupplierSource.objects.filter(pk=source.pk).update(unit_cost=Decimal("-2")))


def test_it_refuses_a_restock_range_that_ends_before_it_starts_and_an_unnamed_conflict():
    update = factories.SupplierUpdateFactory()
    refused(
        lambda: SupplierUpdate.objects.filter(pk=update.pk).update(
            restock_from=date(2026, 12, 10), restock_to=date(2026, 12, 1)
        )
    )
    refused(lambda: SupplierUpdate.objects.filter(pk=update.pk).update(strength="conflicting"))


def test_it_refuses_receiving_more_than_a_purchase_order_line_asked_for():
    line = factories.PurchaseOrderLineFactory(quantity=10)
    refused(lambda: PurchaseOrderLine.objects.filter(pk=line.pk).update(received_quantity=11))


def test_it_keeps_one_open_case_per_cause_but_allows_a_new_one_after_resolution():
    case = factories.CaseFactory()
    refused(lambda: factories.CaseFactory(order=case.order, dedupe_key=case.dedupe_key))
    Case.objects.filter(pk=case.pk).update(status="resolved", resolved_at=timezone.now())
    factories.CaseFactory(order=case.order, dedupe_key=case.dedupe_key)


def test_it_refuses_a_case_about_nothing_and_a_resolution_without_a_time():
    case = factories.CaseFactory()
    refused(lambda: Case.objects.filter(pk=case.pk).update(order=None))
    refused(lambda: Case.objects.filter(pk=case.pk).update(status="resolved"))


def test_it_refuses_two_packets_with_one_version_number():
    packet = factories.PacketFactory()
    refused(lambda: factories.PacketFactory(case=packet.case, version=1))
    refused(lambda: Packet.objects.filter(pk=packet.pk).update(version=0))


def test_it_refuses_an_approval_without_an_approver_and_a_wait_without_a_check_date(owner):
    decision = factories.DecisionFactory(decided_by=owner)
    refused(lambda: Decision.objects.filter(pk=decision.pk).update(status="approved"))
    refused(lambda: Decision.objects.filter(pk=decision.pk).update(action="wait"))
    refused(lambda: Decision.objects.filter(pk=decision.pk).update(amount=Decimal("-5")))


def test_it_refuses_a_message_that_leaves_draft_without_approval_and_duplicate_idempotency_keys():
    message = factories.MessageFactory()
    for status in ["approved", "queued", "sending", "sent"]:
        refused(lambda status=status: Message.objects.filter(pk=message.pk).update(status=status))
    refused(lambda: factories.MessageFactory(idempotency_key=message.idempotency_key))
    Message.objects.filter(pk=message.pk).update(status="sent", approved_at=timezone.now(), sent_at=timezone.now())
