"""The owner records a purchase order's delivery in the browser; waiting lines get the units."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from backorders.models import Product, StockAllocation
from suppliers.models import PurchaseOrder
from suppliers.receiving import ReceivingError, receive_purchase_order
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivery(policy):
    """PO-900: 6 kettles and 4 lamps on order; three kettle buyers and one lamp buyer wait."""
    kettle = factories.ProductFactory(sku="KETTLE-2L", on_hand=0, on_order=6)
    lamp = factories.ProductFactory(sku="LAMP-BLACK", on_hand=0, on_order=4)
    order = factories.PurchaseOrderFactory(reference="PO-900", ordered_at=timezone.now() - timedelta(days=10))
    kettles = factories.PurchaseOrderLineFactory(purchase_order=order, product=kettle, quantity=6)
    lamps = factories.PurchaseOrderLineFactory(purchase_order=order, product=lamp, quantity=4)
    buyers = [
        factories.BackorderedLineFactory(
            product=kettle, quantity=3, order__placed_at=timezone.now() - timedelta(days=9 - i)
        )
        for i in range(3)
    ]
    factories.BackorderedLineFactory(product=lamp, quantity=1)
    return order, kettles, lamps, buyers


def receive_url(order) -> str:
    return reverse("suppliers:purchase-order-receipt-create", args=[order.pk])


def test_a_full_delivery_marks_the_order_received_and_proposes_the_short_product(owner_client, owner, delivery):
    order, kettles, lamps, _ = delivery

    response = owner_client.post(receive_url(order), {f"line-{kettles.pk}": "6", f"line-{lamps.pk}": "4"}, follow=True)

    body = response.content.decode()
    assert response.status_code == 200
    assert "Received 10 unit(s): 1 allocated to waiting lines. 1 allocation(s) await your review" in body
    order.refresh_from_db()
    kettles.refresh_from_db()
    assert (order.status, kettles.received_quantity) == ("received", 6)
    assert order.received_at is not None
    kettle = Product.objects.get(sku="KETTLE-2L")
    assert (kettle.on_hand, kettle.allocated, kettle.on_order) == (6, 0, 0)
    proposal = StockAllocation.objects.get(product=kettle)
    assert (proposal.status, proposal.reference, proposal.created_by) == ("proposed", "PO-900", owner)
    assert [entry["give"] for entry in proposal.plan["entries"]] == [3, 3, 0]


def test_a_part_delivery_marks_the_order_partial_and_can_apply_at_once(owner_client, delivery):
    order, kettles, lamps, buyers = delivery

    owner_client.post(receive_url(order), {f"line-{kettles.pk}": "4", f"line-{lamps.pk}": "", "approve": "on"})

    order.refresh_from_db()
    assert (order.status, order.received_at) == ("partial", None)
    for buyer, expected in zip(buyers, [3, 1, 0], strict=True):
        buyer.refresh_from_db()
        assert buyer.allocated == expected
    page = owner_client.get(reverse("suppliers:purchase-order-receive", args=[order.pk])).content.decode()
    assert 'value="2"' in page, "two kettles are still expected"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kettles": "7"}, "KETTLE-2L: 7 is more than the 6 still expected."),
        ({"kettles": "two"}, "&#x27;two&#x27; is not a whole number of units."),
        ({"kettles": "-1"}, "Quantities cannot be negative."),
        ({"kettles": "0", "lamps": "0"}, "Enter the units received on at least one line."),
    ],
)
def test_bad_quantities_get_a_reason_and_change_nothing(owner_client, delivery, values, message):
    order, kettles, lamps, _ = delivery
    data = {f"line-{kettles.pk}": values.get("kettles", "0"), f"line-{lamps.pk}": values.get("lamps", "1")}

    response = owner_client.post(receive_url(order), data)

    assert response.status_code == 400 and message in response.content.decode()
    order.refresh_from_db()
    lamps.refresh_from_db()
    assert (order.status, lamps.received_quantity) == ("sent", 0)
    assert not StockAllocation.objects.exists()
    assert Product.objects.get(sku="LAMP-BLACK").on_hand == 0


def test_a_received_or_cancelled_order_takes_no_more(owner_client, delivery):
    order, kettles, _, _ = delivery
    PurchaseOrder.objects.filter(pk=order.pk).update(status="cancelled")

    response = owner_client.post(receive_url(order), {f"line-{kettles.pk}": "1"})

    assert response.status_code == 400 and "PO-900 is cancelled" in response.content.decode()
    with pytest.raises(ReceivingError, match="not on this purchase order"):
        receive_purchase_order(order.pk, {kettles.pk + 1000: 1})


def test_only_the_owner_records_deliveries(support_client, delivery):
    order, kettles, _, _ = delivery
    assert support_client.get(reverse("suppliers:purchase-order-receive", args=[order.pk])).status_code == 403
    assert support_client.post(receive_url(order), {f"line-{kettles.pk}": "1"}).status_code == 403
    assert not StockAllocation.objects.exists()


@pytest.mark.parametrize("lines", [1, 8])
def test_the_receipt_page_takes_a_fixed_number_of_queries(owner_client, policy, django_assert_num_queries, lines):
    order = factories.PurchaseOrderFactory()
    factories.PurchaseOrderLineFactory.create_batch(lines, purchase_order=order)

    # session, user, user's groups (role), the purchase order with its supplier, its lines with products
    with django_assert_num_queries(5):
        response = owner_client.get(reverse("suppliers:purchase-order-receive", args=[order.pk]))
    assert response.status_code == 200
