"""Fuzzing intake with hypothesis: the published samples of every source, mutated and posted signed.

Each example starts from a source's published sample (``../shared/samples/webhooks/``, read in
place), changes one to four fields anywhere in it (null, integers beyond 2**63, floats where ids
go, numbers as strings, unicode, a removed key, an empty list or object), posts it signed through
the test client, and runs the worker's ``process_delivery`` on it. Whatever the input:

- the endpoint never answers 5xx, and every refusal is kept as a rejected delivery with a reason;
- the worker never raises: a payload it cannot map ends *failed* with the reason, for replay (one
  that needs a fact not kept yet *waits*, with the reason);
- stock stays conserved: each product's ``allocated`` equals what its lines hold (allocated - shipped).

Each example runs in a savepoint that is rolled back, so examples do not see each other's rows.
"""

from __future__ import annotations

import copy
import uuid

import pytest
from django.db import transaction
from django.db.models import F, Sum
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from backorders.models import OrderLine, Product, WebhookDelivery
from backorders.tasks import process_delivery
from tests.backorders.intake_samples import compact
from tests.backorders.signed import SHOPIFY_WITHOUT_X, SOURCES, configure, sample_payload, send

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

Status = WebhookDelivery.Status
REMOVE = object()

VALUES = st.one_of(
    st.none(),
    st.just(2**63 + 7),
    st.just(-(2**63) - 1),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["12", "-3", "1e9", "0x1F", "", " ", "null", "2026-13-45T99:00:00Z", "NaN"]),
    st.text(max_size=40),
    st.sampled_from(["ünïcödé 🧦", "مرحبا", "\u202e", "a" * 600]),
    st.booleans(),
    st.just([]),
    st.just({}),
    st.just(REMOVE),
)


def paths(value, prefix=()):
    """Every place in a JSON document a mutation can land: keys of objects, items of lists."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*prefix, key)
            yield from paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value[:3]):
            yield (*prefix, index)
            yield from paths(inner, (*prefix, index))


def mutate(document: dict, changes) -> dict:
    document = copy.deepcopy(document)
    for path, value in changes:
        parent = document
        try:
            for step in path[:-1]:
                parent = parent[step]
            if value is REMOVE:
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed or replaced this place
    return document


def mutations(source: str):
    places = sorted(set(paths(sample_payload(source))), key=repr)
    return st.lists(st.tuples(st.sampled_from(places), VALUES), min_size=1, max_size=4)


def units_conserved() -> list[tuple[str, int, int]]:
    held = dict(
        OrderLine.objects.values("product_id")
        .annotate(held=Sum(F("allocated") - F("shipped")))
        .values_list("product_id", "held")
    )
    return [(p.sku, p.allocated, held.get(p.pk, 0)) for p in Product.objects.all() if p.allocated != held.get(p.pk, 0)]


def check_one(client, source: str, body: bytes) -> None:
    with transaction.atomic():
        response = send(client, source, body, delivery_id=uuid.uuid4().hex)
        assert response.status_code < 500, response.content
        delivery = WebhookDelivery.objects.order_by("-pk").first()
        if response.status_code == 200:
            if delivery.status == Status.RECEIVED:
                process_delivery(delivery.pk)  # raising here is the bug this test looks for
                delivery.refresh_from_db()
            assert delivery.status in {Status.PROCESSED, Status.IGNORED, Status.WAITING, Status.FAILED}, delivery.status
            if delivery.status in {Status.WAITING, Status.FAILED}:
                assert delivery.error.strip()
        else:
            assert response.status_code in {400, 422}, (response.status_code, response.content)
            assert delivery.status == Status.REJECTED and delivery.error.strip()
        assert units_conserved() == []
        transaction.set_rollback(True)


@pytest.fixture(autouse=True)
def secrets(settings):
    configure(settings)


@pytest.mark.parametrize("source", [*SOURCES, SHOPIFY_WITHOUT_X])
def test_it_survives_mutated_payloads_from_every_source(client, source):
    from tests import factories

    # stock the sample's SKUs could meet, so allocation paths run as well as creation paths
    factories.ProductFactory(sku="MUG-BLUE", on_hand=1)

    @hypothesis_settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(changes=mutations(source))
    def run(changes):
        check_one(client, source, compact(mutate(sample_payload(source), changes)))

    run()


@pytest.mark.parametrize(
    ("source", "changes", "reason"),
    [
        # found by the fuzzer: a null shipping line, an object where one goes, a price past numeric(12, 2)
        ("woocommerce", [(("shipping_lines", 0), None)], "AttributeError"),
        ("woocommerce", [(("shipping",), 2**63 + 7)], "AttributeError"),
        ("woocommerce", [(("line_items", 0, "price"), 2**63 + 7)], "numeric field overflow"),
    ],
)
def test_it_keeps_a_payload_of_the_wrong_shape_as_failed_with_the_reason(client, source, changes, reason):
    body = compact(mutate(sample_payload(source), changes))
    response = send(client, source, body)
    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get(pk=response.json()["delivery"])
    assert process_delivery(delivery.pk) == Status.FAILED
    delivery.refresh_from_db()
    assert delivery.error.startswith("payload does not have the documented shape") and reason in delivery.error
    assert not OrderLine.objects.exists()
