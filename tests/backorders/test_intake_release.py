"""release_order: a cancelled order gives its unshipped units back, once."""

from __future__ import annotations

import pytest

from backorders.allocation import release_order
from backorders.models import OrderLine, Product
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_it_returns_only_the_unshipped_units_and_is_idempotent():
    mug = factories.ProductFactory(on_hand=10, allocated=5)
    lamp = factories.ProductFactory(on_hand=4, allocated=1)
    order = factories.OrderFactory()
    part = factories.OrderLineFactory(order=order, product=mug, quantity=3, allocated=3, shipped=1, state="allocated")
    whole = factories.OrderLineFactory(order=order, product=mug, quantity=2, allocated=2, shipped=2, state="shipped")
    waiting = factories.OrderLineFactory(order=order, product=lamp, quantity=2, allocated=1, state="partial")
    trail = release_order(order.pk)
    released = {entry["line"] for record in trail if record.kind == "release" for entry in record.applied}
    assert released == {part.pk, waiting.pk}
    assert Product.objects.get(pk=mug.pk).allocated == 3  # 5 - (3 - 1); the shipped line keeps its units
    assert Product.objects.get(pk=lamp.pk).allocated == 0
    part.refresh_from_db()
    assert (part.state, part.allocated, part.shipped) == (OrderLine.State.CANCELLED, 1, 1)
    assert OrderLine.objects.get(pk=whole.pk).state == OrderLine.State.SHIPPED
    assert list(release_order(order.pk)) == []
    assert Product.objects.get(pk=mug.pk).allocated == 3
