"""Supplier pages: the list, a scorecard with its evidence trail, and pasting evidence."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from suppliers.models import PurchaseOrder, SupplierUpdate
from tests import factories

pytestmark = pytest.mark.django_db


def supplier_with_history(rows: int):
    supplier = factories.SupplierFactory()
    for i in range(rows):
        product = factories.ProductFactory()
        factories.SupplierSourceFactory(supplier=supplier, product=product)
        factories.SupplierUpdateFactory(supplier=supplier, product=product)
        factories.PurchaseOrderFactory(
            supplier=supplier,
            status=PurchaseOrder.Status.RECEIVED,
            ordered_at=datetime(2026, 1, 5, tzinfo=UTC) + timedelta(days=i),
            quoted_at=datetime(2026, 1, 19).date() + timedelta(days=i),
            received_at=datetime(2026, 1, 21, tzinfo=UTC) + timedelta(days=i),
        )
    return supplier


@pytest.mark.parametrize("url", ["/suppliers/", "/suppliers/1/"])
def test_it_keeps_supplier_pages_from_people_without_a_role(client, outsider, url):
    client.force_login(outsider)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("rows", [1, 6])
def test_it_lists_suppliers_with_scores_in_a_fixed_number_of_queries(owner_client, django_assert_num_queries, rows):
    for _ in range(rows):
        supplier_with_history(2)
    # session, user, user's groups (role), suppliers, policy, received purchase orders, supplier updates,
    # drop-shipped shipments
    with django_assert_num_queries(8):
        response = owner_client.get(reverse("suppliers:supplier-list"))
    assert response.status_code == 200
    assert len(re.findall(r'href="/suppliers/\d+/"', response.content.decode())) == rows


@pytest.mark.parametrize("rows", [1, 6])
def test_it_shows_a_scorecard_in_a_fixed_number_of_queries(support_client, django_assert_num_queries, rows):
    supplier = supplier_with_history(rows)
    # session, user, groups, supplier, policy, purchase orders, supplier updates, shipments (scorecard),
    # evidence trail with products, sources with products, recent purchase orders, form's product choices
    with django_assert_num_queries(12):
        response = support_client.get(reverse("suppliers:supplier-detail", args=[supplier.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "<svg" in body and "On-time deliveries by month" in body
    assert body.count("badge-confirmed") >= rows


def test_it_records_pasted_evidence_and_shows_it_on_the_trail(support_client, support):
    source = factories.SupplierSourceFactory()
    url = reverse("suppliers:evidence-create", args=[source.supplier.pk])
    response = support_client.post(
        url,
        {
            "text": "Hi! Kettles should be back in a couple of weeks, hopefully.",
            "product": source.product.pk,
            "received_at": "2026-03-02T10:00",
        },
    )
    assert response.status_code == 302
    update = SupplierUpdate.objects.get()
    assert update.recorded_by == support and update.strength == "weak" and update.kind == "restock_estimate"
    assert update.received_at == datetime(2026, 3, 2, 15, tzinfo=UTC)  # 10:00 in New York
    assert update.restock_from.isoformat() == "2026-03-14"
    page = support_client.get(response["Location"]).content.decode()
    assert "Kettles should be back" in page and "Recorded: restock estimate" in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"text": ""}, "This field is required."),
        ({"text": "In stock.", "received_at": "2999-01-01T10:00"}, "cannot be in the future"),
        ({"text": "In stock.", "product": "999999"}, "Select a valid choice"),
    ],
)
def test_it_answers_bad_evidence_with_a_form_error_and_writes_nothing(owner_client, data, message):
    supplier = factories.SupplierFactory()
    response = owner_client.post(reverse("suppliers:evidence-create", args=[supplier.pk]), data)
    assert response.status_code == 400 and message in response.content.decode()
    assert SupplierUpdate.objects.count() == 0


def test_it_refuses_get_on_the_evidence_endpoint(owner_client):
    supplier = factories.SupplierFactory()
    assert owner_client.get(reverse("suppliers:evidence-create", args=[supplier.pk])).status_code == 405
