"""The owner approves a cancel in the browser and the store receives exactly one orderCancel.

Everything is a real process or server, as with ``make run`` and the README's Shopify stand-in:
``scripts/fake_shopify.py`` in its own process (its log is what the store received), a
``manage.py qcluster`` worker on the test database, the live test server, and Chromium.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from packets import decisions as verbs
from packets.models import Decision, StoreAction
from tests import factories
from tests.e2e.conftest import sign_in
from tests.loopback import free_port
from tests.packets.packet_content import case_with_packet, contract_content
from tests.processes import PYTHON, Processes, production_env

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ORDER_ID = "820982911946154508"  # Shopify ids pass 2^53: kept as strings, never floats
TOKEN = "shpat_e2e_test_token"


def wait_for(predicate, *, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"gave up after {seconds:.0f} s waiting for {what}")


def mutations(log_path, operation: str) -> list[dict]:
    """The mutations the stand-in logged: ``... mutation <operation> <variables as JSON>``."""
    found = []
    for line in log_path.read_text().splitlines():
        marker = f" mutation {operation} "
        if marker in line:
            found.append(json.loads(line.split(marker, 1)[1]))
    return found


@pytest.fixture
def store_and_worker(tmp_path, settings):
    """fake_shopify and a worker cluster, both real processes, pointed at each other."""
    processes = Processes(tmp_path)
    port = free_port()
    shop = f"http://127.0.0.1:{port}"
    processes.start(
        "fake_shopify",
        [PYTHON, "scripts/fake_shopify.py", "--port", str(port), "--token", TOKEN],
        {"PYTHONUNBUFFERED": "1"},
    )
    wait_for(lambda: "Fake Shopify on" in (tmp_path / "fake_shopify.log").read_text(), seconds=15, what="fake_shopify")
    settings.SHOPIFY_SHOP_URL, settings.SHOPIFY_ADMIN_TOKEN = shop, TOKEN  # the web side previews with them
    env = production_env(
        SECRET_KEY=settings.SECRET_KEY,  # tasks are signed with it: the worker reads what the web side queued
        SHOPIFY_SHOP_URL=shop,
        SHOPIFY_ADMIN_TOKEN=TOKEN,
        SHOPIFY_JOB_POLL_SECONDS="0",
    )
    processes.cluster("worker", env)
    try:
        yield tmp_path / "fake_shopify.log"
    finally:
        processes.stop_all()


def test_the_owner_approves_a_cancel_and_shopify_receives_one_order_cancel(page, owner, support, store_and_worker):
    order = factories.OrderFactory(
        external_id=ORDER_ID, number="#1042", total=Decimal("84.20"), subtotal=Decimal("80.00")
    )
    product = factories.ProductFactory(title="Blue Mug", on_hand=0)
    factories.OrderLineFactory(order=order, product=product, quantity=2, state="backordered", external_id="111")
    case, _ = case_with_packet(contract_content(order_number="#1042"), order=order, product=product)
    proposal = verbs.decide(case.pk, support, action="cancel", note="The customer asked to cancel; no date for stock")

    sign_in(page, owner.username)
    page.goto(f"/cases/{case.pk}/")
    expect(page.locator(".store-preview")).to_contain_text(
        "Will cancel order #1042 on Shopify, refund $84.20 to the original payment, no restock."
    )
    page.locator(f'[data-decision-id="{proposal.pk}"] [data-approve-decision]').click()
    expect(page.locator(".flash")).to_contain_text("Approved: Cancel.")

    # a second approve of the same decision (a double click that got through) changes nothing
    token = page.locator("input[name=csrfmiddlewaretoken]").first.get_attribute("value")
    again = page.request.post(f"/cases/decisions/{proposal.pk}/approve/", headers={"X-CSRFToken": token})
    assert again.status == 400 and "already approved" in again.text()

    # the worker process runs the action; the panel polls until it is done
    expect(page.locator(".store-action-succeeded")).to_be_visible(timeout=45_000)
    expect(page.locator(".store-action")).to_contain_text("Done")
    action = StoreAction.objects.get()
    assert (action.kind, action.status, action.attempts) == ("cancel", "succeeded", 1)
    assert Decision.objects.get(pk=proposal.pk).approved_by == owner

    calls = wait_for(lambda: mutations(store_and_worker, "orderCancel"), seconds=10, what="the logged orderCancel")
    time.sleep(1)  # room for a duplicate to show up, were there one
    calls = mutations(store_and_worker, "orderCancel")
    assert len(calls) == 1, calls
    assert calls[0]["orderId"] == f"gid://shopify/Order/{ORDER_ID}"
    assert calls[0]["reason"] == "INVENTORY" and calls[0]["restock"] is False
