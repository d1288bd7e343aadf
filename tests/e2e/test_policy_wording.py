"""The owner writes a cadence step's wording in a real Chromium under the strict Content-Security-Policy:
the check answers as they type (htmx, no inline script) with the problem and a preview for a sample
customer, and the save makes a new policy version. Screenshots at laptop and phone widths."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from backorders.models import StorePolicy
from packets.models import AuditEvent
from tests.e2e.conftest import sign_in
from tests.e2e.test_content_security_policy import watched

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def test_the_owner_types_a_vip_wording_sees_the_live_check_and_saves_a_new_version(page, owner, artifacts):
    before = StorePolicy.objects.current().version
    console = watched(page)
    sign_in(page, owner.username)
    page.get_by_role("link", name="Wording").click()
    expect(page.get_by_role("heading", name="Message wording")).to_be_visible()
    page.screenshot(path=artifacts / "wording-list-1366.png", full_page=True)

    page.locator("#step-update_48h").get_by_role("link", name="Edit the wording").click()
    vip = page.locator("fieldset[data-variant='vip']")
    email = vip.locator("textarea[name='vip-email']")
    email.fill("Hi {first_name}, your {product} ships on March 5. {cancel_link}")
    expect(vip.locator(".guideline-issues")).to_contain_text('one exact date ("March 5")')
    email.fill("Hi {first_name}, thanks for coming back. {product} ships {range}. {cancel_link}")
    expect(vip.locator("[data-guidelines-ok]")).to_be_visible()
    expect(vip.locator("[data-preview='email']")).to_contain_text("Hi Sam, thanks for coming back. Linen Throw")
    expect(vip.locator("[data-preview='email']")).to_contain_text("ships between")
    vip.screenshot(path=artifacts / "wording-live-check.png")
    page.screenshot(path=artifacts / "wording-edit-1366.png", full_page=True)

    page.get_by_role("button", name="Save as a new policy version").click()
    expect(page.get_by_text(f"as policy v{before + 1}")).to_be_visible()
    expect(page.locator("#step-update_48h")).to_contain_text("thanks for coming back")
    policy = StorePolicy.objects.current()
    assert policy.version == before + 1
    assert policy.cadence_wording["update_48h"]["vip"]["email"].startswith("Hi {first_name}, thanks")
    assert AuditEvent.objects.get(action="policy.wording_changed").data["before"] == {}

    page.set_viewport_size(PHONE)
    page.screenshot(path=artifacts / "wording-list-390.png", full_page=True)
    page.goto("/policy/wording/update_day7/")
    page.screenshot(path=artifacts / "wording-edit-390.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.evaluate("window.__violations") == []
    assert not [line for line in console if "Content Security Policy" in line], console
