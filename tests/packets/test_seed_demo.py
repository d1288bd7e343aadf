"""The demo store is realistic enough to show every kind of trouble, and loading it twice is safe."""

from collections import Counter

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db.models import F, Q, Sum

from backorders.models import Order, OrderLine, Product, Shipment
from packets.models import InboundMessage
from suppliers.models import Supplier, SupplierSource, SupplierUpdate

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(db):
    call_command("seed_demo", "--allow-production", stdout=open("/dev/null", "w"))  # noqa: SIM115


def test_it_builds_a_store_of_the_promised_size(demo):
    assert 35 <= Product.objects.count() <= 45
    assert Supplier.objects.count() == 5
    assert Order.objects.count() >= 200
    assert SupplierSource.objects.filter(role="backup").exists()
    products_per_title = Counter(Product.objects.values_list("title", flat=True))
    assert sum(1 for n in products_per_title.values() if n > 1) >= 10, "most products have variants"


def test_it_is_idempotent(demo):
    counts = [Product.objects.count(), Order.objects.count(), OrderLine.objects.count(), Shipment.objects.count()]
    call_command("seed_demo", "--allow-production", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert counts == [
        Product.objects.count(),
        Order.objects.count(),
        OrderLine.objects.count(),
        Shipment.objects.count(),
    ]


def test_it_keeps_stock_consistent_with_the_order_lines(demo):
    assert not Product.objects.filter(Q(allocated__gt=F("on_hand")) | Q(on_hand__lt=0)).exists()
    for product in Product.objects.all():
        held = OrderLine.objects.filter(product=product).aggregate(n=Sum(F("allocated") - F("shipped")))["n"] or 0
        assert product.allocated == held, product.sku


def test_it_has_backorders_of_several_ages_and_every_kind_of_evidence(demo):
    waiting = OrderLine.objects.filter(state__in=["backordered", "partial"])
    ages = {line.order.placed_at.date() for line in waiting.select_related("order")}
    assert waiting.count() >= 20 and len(ages) >= 10
    assert set(SupplierUpdate.objects.values_list("strength", flat=True)) == {"confirmed", "weak", "conflicting"}
    statuses = set(Shipment.objects.values_list("status", flat=True))
    assert {"label_created", "accepted", "in_transit", "exception", "delivered", "unknown"} <= statuses
    assert Shipment.objects.filter(shipped_by="supplier").exists()
    assert Shipment.objects.filter(events__isnull=True).exists(), "a shipment with no tracking data at all"
    bodies = " ".join(InboundMessage.objects.values_list("body", flat=True)).lower()
    assert "chargeback" in bodies and "dispute" in bodies and "review" in bodies


def test_it_creates_an_owner_and_a_support_login_that_work(demo):
    owner = authenticate(username="owner", password="backorder-owner")
    support = authenticate(username="support", password="backorder-support")
    assert owner is not None and support is not None
    assert list(owner.groups.values_list("name", flat=True)) == ["Owner"]
    assert list(support.groups.values_list("name", flat=True)) == ["Support"]
    assert not support.is_staff


def test_it_refuses_to_run_with_debug_off_unless_told_to(db, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--allow-production"):
        call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert not User.objects.filter(username="owner").exists(), "no login with a published password"
    assert not Product.objects.exists()


def test_it_runs_with_debug_on_as_make_run_sets_it(db, settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert authenticate(username="owner", password="backorder-owner") is not None
