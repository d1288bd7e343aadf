"""Every URL the desk serves, for every kind of visitor: one row per pattern, checked on the server.

The table is the access policy. A new URL pattern without a row fails
``test_it_has_a_row_for_every_url_pattern``, so nobody adds a page without deciding who may use it.
Admin (``admin/``, Django's own login and permissions) and static files are left out.

GET-only views are fetched; POST-only views get a POST with an empty form and CSRF enforced off
(the CSRF middleware is tested by Django; this checks the role rules behind it). Empty forms are
enough: a role check runs before the form is read, and a permitted visitor gets the view's own
answer to a form with nothing in it (a 400 or a redirect back with a message), never a 500.

Statuses: ``LOGIN`` is a 302 to ``/accounts/login/``; support gets 403 on owner-only actions;
webhooks answer 401 without a signature; signed customer links answer 400 for a bad token.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from backorders.models import ImportJob, StockAllocation
from packets.health import heartbeat
from packets.models import ExportJob, InboundMail
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

LOGIN = "login"  # 302 to the login page


@dataclass(frozen=True)
class Row:
    method: str  # GET or POST
    anonymous: int | str
    support: int | str
    owner: int | str
    kwargs: str = ""  # which object of the world fills the URL


# name: Row(method, anonymous, support, owner, kwargs)
MATRIX: dict[str, Row] = {
    # the site's own pages
    "home": Row("GET", LOGIN, 302, 302),
    "login": Row("GET", 200, 302, 302),  # signed-in people are sent on to the case queue
    "logout": Row("POST", 302, 302, 302),
    "healthz": Row("GET", 200, 200, 200),  # public by design: no data, only ok/not ok per part
    # intake: webhooks verify their signature (no login), CSV imports are for staff
    "backorders:webhook-shopify": Row("POST", 401, 401, 401),
    "backorders:webhook-woocommerce": Row("POST", 401, 401, 401),
    "backorders:webhook-carrier": Row("POST", 401, 401, 401, "provider"),
    "backorders:webhook-generic": Row("POST", 401, 401, 401),
    "backorders:webhook-shipstation": Row("POST", 401, 401, 401),
    "backorders:webhook-bigcommerce": Row("POST", 401, 401, 401),
    "backorders:import-list": Row("GET", LOGIN, 200, 200),
    "backorders:import-detail": Row("GET", LOGIN, 200, 200, "job_id"),
    "backorders:import-report": Row("GET", LOGIN, 200, 200, "job_id"),
    # stock: staff see allocations, the owner applies a proposal
    "backorders:stock-allocation-list": Row("GET", LOGIN, 200, 200),
    "backorders:stock-allocation-detail": Row("GET", LOGIN, 200, 200, "allocation_id"),
    "backorders:stock-allocation-approve": Row("POST", LOGIN, 403, 302, "allocation_id"),
    # suppliers: staff read and record evidence; the owner records deliveries
    "suppliers:supplier-list": Row("GET", LOGIN, 200, 200),
    "suppliers:supplier-detail": Row("GET", LOGIN, 200, 200, "supplier_id"),
    "suppliers:evidence-create": Row("POST", LOGIN, 400, 400, "supplier_id"),
    "suppliers:purchase-order-receive": Row("GET", LOGIN, 403, 200, "purchase_order_id"),
    "suppliers:purchase-order-receipt-create": Row("POST", LOGIN, 403, 400, "purchase_order_id"),
    # cases: staff work them; money moves are the owner's
    "packets:case-list": Row("GET", LOGIN, 200, 200),
    "packets:case-bulk": Row("POST", LOGIN, 400, 400),
    "packets:draft-list": Row("GET", LOGIN, 200, 200),
    "packets:draft-bulk-approve": Row("POST", LOGIN, 302, 302),
    "packets:routine-list": Row("GET", LOGIN, 200, 200),
    "packets:routine-accept-all": Row("POST", LOGIN, 302, 302),  # nothing ticked: back with a message
    "packets:case-accept": Row("POST", LOGIN, 302, 302, "case_id"),  # an empty form: back to the case
    "packets:case-detail": Row("GET", LOGIN, 200, 200, "case_id"),
    "packets:case-decide": Row("POST", LOGIN, 400, 400, "case_id"),
    "packets:case-outcome": Row("POST", LOGIN, 400, 400, "case_id"),
    "packets:case-assign": Row("POST", LOGIN, 302, 302, "case_id"),
    "packets:case-draft-reply": Row("POST", LOGIN, 404, 404, "case_id"),  # machine drafting is off by default
    "packets:decision-approve": Row("POST", LOGIN, 403, 302, "decision_id"),
    "packets:decision-reject": Row("POST", LOGIN, 403, 302, "decision_id"),
    "packets:message-approve": Row("POST", LOGIN, 302, 302, "message_id"),
    "packets:message-edit": Row("POST", LOGIN, 400, 400, "message_id"),  # an empty form: the page with errors
    "packets:message-check": Row("POST", LOGIN, 200, 200, "message_id"),
    "packets:case-reply": Row("POST", LOGIN, 400, 400, "case_id"),
    "packets:case-reply-check": Row("POST", LOGIN, 200, 200, "case_id"),
    "packets:case-draft-offer": Row("POST", LOGIN, 303, 303, "case_id"),  # to the drafted offer (or why not)
    # the customer's signed link: no login, the token is the key
    "packets:customer-order": Row("GET", 400, 400, 400, "token"),
    "packets:customer-cancel": Row("POST", 400, 400, 400, "token"),
    "packets:customer-choose": Row("POST", 400, 400, 400, "token"),
    # exports and the weekly review
    "packets:case-pdf": Row("GET", LOGIN, 200, 200, "case_id"),
    "packets:bundle-list": Row("GET", LOGIN, 200, 200),
    "packets:bundle-create": Row("POST", LOGIN, 400, 400),
    "packets:bundle-detail": Row("GET", LOGIN, 403, 200, "job_id"),
    "packets:bundle-progress": Row("GET", LOGIN, 403, 200, "job_id"),
    "packets:bundle-download": Row("GET", LOGIN, 403, 409, "job_id"),  # owner may; a queued job is not ready
    "packets:review-weekly": Row("GET", LOGIN, 200, 200),
    "packets:review-weekly-pdf": Row("GET", LOGIN, 200, 200),
    "packets:purchase-order-approve": Row("POST", LOGIN, 403, 409, "purchase_order_id"),  # owner may; not proposed yet
    "packets:purchase-order-confirm": Row("POST", LOGIN, 400, 400, "purchase_order_id"),  # staff; no date given
    "packets:purchase-order-submitted": Row("POST", LOGIN, 409, 409, "purchase_order_id"),  # staff; not a portal order
    # acting on the store and its connections: the owner's
    "packets:store-action-panel": Row("GET", LOGIN, 200, 200, "case_id"),
    "packets:store-action-retry": Row("POST", LOGIN, 403, 302, "action_id"),
    # the product page: staff see and change what the store sells (an empty form: 400, says what to send)
    "packets:product-detail": Row("GET", LOGIN, 200, 200, "product_id"),
    "packets:product-store-action": Row("POST", LOGIN, 400, 400, "product_id"),
    # a failed stock push sent again: the owner's (an empty form: 400, says which channel)
    "packets:product-stock-retry": Row("POST", LOGIN, 403, 400, "product_id"),
    "packets:connections": Row("GET", LOGIN, 403, 200),
    # the wording of the cadence steps: the owner's (an empty form clears the step's wording: nothing to clear)
    "packets:policy-wording": Row("GET", LOGIN, 403, 200),
    "packets:policy-wording-edit": Row("POST", LOGIN, 403, 302, "step"),
    "packets:policy-wording-check": Row("POST", LOGIN, 403, 200, "step"),
    "packets:connection-test": Row("POST", LOGIN, 403, 302, "name"),
    # email providers' delivery reports: basic auth, refused while no secret is set
    "packets:email-tracking": Row("POST", 401, 401, 401, "provider"),
    # customers' email replies from the providers: the same basic auth
    "packets:email-inbound": Row("POST", 401, 401, 401, "provider"),
    "packets:email-inbound-mailgun-mime": Row("POST", 401, 401, 401),
    # comments on cases' Zendesk tickets: Zendesk's signature, refused while no secret is set
    "packets:webhook-zendesk": Row("POST", 401, 401, 401),
    "packets:slack-interactions": Row("POST", 401, 401, 401),  # Slack's signed presses; no login
    # replies no case matched: staff read them and attach each to its case (an empty form: 400)
    "packets:unmatched-replies": Row("GET", LOGIN, 200, 200),
    "packets:reply-attach": Row("POST", LOGIN, 400, 400, "mail_id"),
}


def _patterns(patterns, namespace: str = ""):
    """(name, pattern) for every named view, walking includes; admin is left out."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            if str(entry.pattern).startswith("admin/"):
                continue
            inner = entry.namespace or ""
            ns = f"{namespace}:{inner}" if namespace and inner else (inner or namespace)
            yield from _patterns(entry.url_patterns, ns)
        elif isinstance(entry, URLPattern):
            assert entry.name, f"URL pattern {entry.pattern} has no name"
            yield (f"{namespace}:{entry.name}" if namespace else entry.name), entry


def url_names() -> set[str]:
    return {name for name, _ in _patterns(get_resolver().url_patterns)}


def test_it_has_a_row_for_every_url_pattern():
    assert url_names() == set(MATRIX), "every URL pattern needs a row in MATRIX (and no stale rows)"


@pytest.fixture
def world(owner, support):
    """One of everything a URL can point at, and a live worker (so /healthz answers 200)."""
    heartbeat()
    case = factories.CaseFactory()
    factories.PacketFactory(case=case)
    product = factories.ProductFactory(on_hand=3)
    allocation = StockAllocation.objects.create(
        product=product,
        kind=StockAllocation.Kind.RECEIPT,
        status=StockAllocation.Status.PROPOSED,
        on_hand_before=0,
        on_hand_after=3,
    )
    purchase_order = factories.PurchaseOrderFactory()
    factories.PurchaseOrderLineFactory(purchase_order=purchase_order, product=product)
    decision = factories.DecisionFactory(case=case, action="refund", status="proposed", decided_by=support)
    message = factories.MessageFactory(case=case, order=case.order)
    action = factories.StoreActionFactory(case=case, status="failed", error="timed out")
    job = ImportJob.objects.create(kind="orders", filename="orders.csv", content=b"Name\n", created_by=support)
    bundle = ExportJob.objects.create(created_by=owner, case_ids=[case.pk], total=1)
    return {
        "provider": {"backorders": "aftership", "packets": "postmark"},
        "job_id": {"backorders": job.pk, "packets": bundle.pk},
        "allocation_id": allocation.pk,
        "product_id": product.pk,
        "supplier_id": purchase_order.supplier_id,
        "purchase_order_id": purchase_order.pk,
        "case_id": case.pk,
        "decision_id": decision.pk,
        "message_id": message.pk,
        "token": "not-a-signed-token",
        "action_id": action.pk,
        "name": "shopify",
        "step": "update_48h",
        "mail_id": InboundMail.objects.create(source="imap", raw="Subject: hello\n\nhi\n", status="unmatched").pk,
    }


def _url(name: str, row: Row, world: dict) -> str:
    if not row.kwargs:
        return reverse(name)
    value = world[row.kwargs]
    if isinstance(value, dict):
        value = value[name.split(":")[0]]
    return reverse(name, kwargs={row.kwargs: value})


def _visit(client: Client, name: str, row: Row, world: dict):
    url = _url(name, row, world)
    if row.method == "GET":
        return client.get(url)
    return client.post(url, {})


def _check(response, expected) -> bool:
    if expected == LOGIN:
        return response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    return response.status_code == expected


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_it_answers_each_visitor_as_the_matrix_says(name, world, owner, support):
    row = MATRIX[name]
    got = {}
    for who, user in (("anonymous", None), ("support", support), ("owner", owner)):
        client = Client(enforce_csrf_checks=False)
        if user is not None:
            client.force_login(user)
        with transaction.atomic():  # each visitor meets the same world: what one did is undone
            response = _visit(client, name, row, world)
            transaction.set_rollback(True)
        expected = getattr(row, who)
        got[who] = (response.status_code, response.get("Location", ""))
        assert _check(response, expected), f"{name} as {who}: expected {expected}, got {got[who]}"


GET_AND_POST = {"home", "login", "backorders:import-list"}  # forms that post back to themselves


@pytest.mark.parametrize("name", sorted(n for n, r in MATRIX.items() if r.method == "GET" and n not in GET_AND_POST))
def test_it_refuses_the_wrong_method(name, world, owner):
    """A GET-only page answers a POST with 405 (for a signed-in owner, so roles are not the reason)."""
    client = Client(enforce_csrf_checks=False)
    client.force_login(owner)
    response = client.post(_url(name, MATRIX[name], world), {})
    assert response.status_code == 405, (name, response.status_code)


def test_it_forbids_every_staff_page_to_a_signed_in_user_without_a_role(world, outsider):
    """Otto has an account but no role: every page behind the login answers 403, never 200."""
    client = Client(enforce_csrf_checks=False)
    client.force_login(outsider)
    public = {"login", "logout", "home", "healthz"}
    for name, row in MATRIX.items():
        if name in public or row.anonymous != LOGIN:
            continue
        response = _visit(client, name, row, world)
        assert response.status_code == 403, (name, response.status_code)


def test_it_opens_a_good_customer_link_without_a_login(world, client):
    from packets.notify.links import customer_path

    order = factories.OrderFactory()
    assert client.get(customer_path(order)).status_code == 200
    tampered = customer_path(order).rstrip("/") + "x/"
    assert client.get(tampered).status_code == 400
