"""The owner reviews a short-supply plan, sees who gets units and who waits and why, and applies it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from backorders.allocation import receive_stock
from backorders.models import StockAllocation
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def proposal(policy):
    kettle = factories.ProductFactory(sku="KETTLE-2L", on_hand=0)
    now = timezone.now()
    factories.BackorderedLineFactory(order__number="#1001", order__placed_at=now - timedelta(days=9), product=kettle)
    factories.BackorderedLineFactory(
        order__number="#1002", order__placed_at=now - timedelta(days=2), order__express=True, product=kettle
    )
    factories.BackorderedLineFactory(order__number="#1003", order__placed_at=now - timedelta(days=5), product=kettle)
    return receive_stock(kettle.pk, 2, reference="PO-77").record


def test_the_owner_sees_who_gets_units_who_waits_and_why(owner_client, proposal):
    body = owner_client.get(reverse("backorders:stock-allocation-detail", args=[proposal.pk])).content.decode()

    getting, waiting = body.split("Keep waiting")
    assert getting.index("#1002") < getting.index("#1001"), "express first, then the oldest"
    assert "Express" in getting and "gets 1 of 1" in getting
    assert "#1003" in waiting and "waits: no units left" in waiting
    assert "Apply this allocation" in body and "PO-77" in body


def test_the_owner_applies_a_proposal_and_the_trail_shows_it(owner_client, owner, proposal):
    url = reverse("backorders:stock-allocation-approve", args=[proposal.pk])

    response = owner_client.post(url, follow=True)

    assert response.status_code == 200
    assert "Applied: 2 unit(s) to 2 line(s)." in response.content.decode()
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decided_by) == ("applied", owner)
    again = owner_client.post(url)
    assert again.status_code == 409 and "it cannot be applied" in again.content.decode()
    listing = owner_client.get(reverse("backorders:stock-allocation-list")).content.decode()
    assert "Nothing to review" in listing and "olivia" in listing


def test_support_may_look_but_not_apply(support_client, proposal):
    detail = support_client.get(reverse("backorders:stock-allocation-detail", args=[proposal.pk]))
    assert detail.status_code == 200 and "Apply this allocation" not in detail.content.decode()

    response = support_client.post(reverse("backorders:stock-allocation-approve", args=[proposal.pk]))

    assert response.status_code == 403
    proposal.refresh_from_db()
    assert proposal.status == "proposed"


def test_outsiders_see_nothing_and_approval_needs_a_post(client, outsider, owner_client, proposal):
    client.force_login(outsider)
    assert client.get(reverse("backorders:stock-allocation-list")).status_code == 403
    assert owner_client.get(reverse("backorders:stock-allocation-approve", args=[proposal.pk])).status_code == 405


def test_a_superseded_proposal_points_to_its_successor(owner_client, proposal):
    successor = receive_stock(proposal.product_id, 1).record

    body = owner_client.get(reverse("backorders:stock-allocation-detail", args=[proposal.pk])).content.decode()

    assert "Superseded by" in body and f"allocation {successor.pk}" in body
    assert "Apply this allocation" not in body


@pytest.mark.parametrize("rows", [1, 12])
def test_the_list_takes_a_fixed_number_of_queries(owner_client, policy, django_assert_num_queries, rows):
    for _ in range(rows):
        product = factories.ProductFactory(on_hand=0)
        factories.BackorderedLineFactory(product=product, quantity=3)
        receive_stock(product.pk, 1)  # a proposal
        receive_stock(factories.ProductFactory(on_hand=0).pk, 2)  # nothing waits: recorded
    assert StockAllocation.objects.count() == 2 * rows

    # session, user, user's groups (role), open proposals with product and people,
    # count for the pager, the page of the trail with product and people
    with django_assert_num_queries(6):
        assert owner_client.get(reverse("backorders:stock-allocation-list")).status_code == 200


@pytest.mark.parametrize("waiting", [1, 40])
def test_the_detail_takes_a_fixed_number_of_queries(owner_client, policy, django_assert_num_queries, waiting):
    product = factories.ProductFactory(on_hand=0)
    for _ in range(waiting + 1):
        factories.BackorderedLineFactory(product=product, quantity=2)
    record = receive_stock(product.pk, 1).record

    # session, user, user's groups (role), the allocation with product and people
    with django_assert_num_queries(4):
        assert owner_client.get(reverse("backorders:stock-allocation-detail", args=[record.pk])).status_code == 200
