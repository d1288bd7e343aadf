"""The strict Content-Security-Policy in a real Chromium: every page works with no inline script,
style or handler, and nothing is blocked. Pages behind the login, and the customer's page, are
answered with ``Cache-Control: no-store``.

Chromium reports each blocked resource both as a ``securitypolicyviolation`` event (collected
here by a script the test adds to every page) and as a console error; the test fails on either.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from packets.notify.links import customer_path
from tests import factories
from tests.e2e.conftest import FACTORY_PASSWORD, sign_in
from tests.packets.packet_content import case_with_packet, contract_content

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


def watched(page) -> list[str]:
    console: list[str] = []
    page.add_init_script(WATCH)
    page.on("console", lambda m: console.append(f"{page.url}: {m.text}") if m.type == "error" else None)
    return console


def visit(page, console, path: str, *, expect_status: int = 200) -> dict[str, str]:
    response = page.goto(path)
    assert response.status == expect_status, (path, response.status)
    page.wait_for_load_state("networkidle")
    violations = page.evaluate("window.__violations")
    assert violations == [], (path, violations)
    assert not [line for line in console if "Content Security Policy" in line], (path, console)
    return response.all_headers()


def test_every_page_runs_under_the_strict_policy_and_private_pages_are_not_stored(page, owner, artifacts):
    case, _ = case_with_packet(contract_content(order_number="#3001"), title="Order #3001 waits on MUG-SAGE")
    other, _ = case_with_packet(contract_content(order_number="#3002"), title="Order #3002 waits on LAMP-BLACK")
    factories.MessageFactory(case=case, step="update_48h", subject="An update on your order #3001")
    owner.is_staff = owner.is_superuser = True
    owner.save(update_fields=["is_staff", "is_superuser"])
    console = watched(page)

    login = visit(page, console, "/accounts/login/")
    policy = login["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy

    sign_in(page, owner.username, FACTORY_PASSWORD)
    for path in [
        "/cases/",
        f"/cases/{case.pk}/",
        "/cases/drafts/",
        "/cases/routine/",
        "/suppliers/",
        "/review/weekly/",
        "/stock/allocations/",
        "/imports/",
        "/exports/",
        "/connections/",
        "/policy/wording/",
        "/policy/wording/update_day7/",
        "/admin/",
        "/admin/backorders/webhookdelivery/",
        "/admin/packets/outboundsubscription/add/",
    ]:
        headers = visit(page, console, path)
        assert "no-store" in headers["cache-control"], (path, headers.get("cache-control"))
        assert "content-security-policy" in headers

    # htmx still works without eval or inline style: the queue filters swap rows in place
    page.goto("/cases/")
    expect(page.locator(".case-title")).to_have_count(2)
    page.evaluate("window.stillTheSamePage = true")
    page.fill("#queue-search", other.order.number)
    expect(page.locator(".case-title")).to_have_count(1)
    expect(page.locator(".case-title")).to_have_text("Order #3002 waits on LAMP-BLACK")
    assert page.evaluate("window.stillTheSamePage") is True
    # app.js still works: Escape leaves the search field, then "?" opens the shortcuts
    page.keyboard.press("Escape")
    page.keyboard.press("?")
    expect(page.locator("#shortcuts")).to_be_visible()
    page.screenshot(path=artifacts / "csp-queue.png")
    assert page.evaluate("window.__violations") == []

    customer = visit(page, console, customer_path(case.order))
    assert "no-store" in customer["cache-control"]
    page.screenshot(path=artifacts / "csp-customer.png")
