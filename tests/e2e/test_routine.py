"""The owner's morning by keystrokes, in a real Chromium: a routine case from the routine view to
its update approved in at most three keys, and every other routine case in one confirmed action.
Screenshots at a laptop's 1366 px and a phone's 390 px are saved in test-artifacts/."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from packets.models import Case, Decision, Message
from tests import factories
from tests.e2e.conftest import sign_in
from tests.packets.packet_content import case_with_packet, contract_content

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
ROUTINE_CASES = 4


def routine_case(number: str):
    case, _ = case_with_packet(contract_content(order_number=number), title=f"Order {number} waits on MUG-SAGE")
    draft = factories.MessageFactory(
        case=case, order=case.order, step="update_48h", subject=f"An update on your order {number}"
    )
    return case, draft


def widest(page) -> int:
    """How wide the page lays out: a mobile browser widens its layout to fit what overflows, so
    this is compared with the phone's width, not with window.innerWidth."""
    return page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth)")


def test_a_routine_case_takes_three_keys_and_the_rest_one_action(page, owner, artifacts):
    made = [routine_case(f"#40{n:02d}") for n in range(ROUTINE_CASES)]
    sign_in(page, owner.username)
    page.goto("/cases/routine/")
    expect(page.locator("#case-rows tbody tr")).to_have_count(ROUTINE_CASES)
    expect(page.locator("#case-rows tr.selected")).to_have_count(1)  # the first row, ready for Enter
    page.screenshot(path=artifacts / "routine-1366.png", full_page=True)
    first = int(page.locator("#case-rows tr.selected").get_attribute("data-case-id"))
    draft = next(d for c, d in made if c.pk == first)

    keys = ["Enter", "a", "Enter"]
    page.keyboard.press(keys[0])
    page.wait_for_url(f"**/cases/{first}/?from=*")
    page.keyboard.press(keys[1])
    expect(page.locator("#accept-dialog")).to_be_visible()
    expect(page.locator("#accept-dialog [data-accept-decision]")).to_have_text("Wait")
    expect(page.locator("#accept-dialog [data-accept-message]")).to_contain_text("We expect it to ship between")
    page.screenshot(path=artifacts / "accept-dialog-1366.png")
    page.keyboard.press(keys[2])
    expect(page.locator(".flash")).to_contain_text("Accepted on order")

    assert len(keys) <= 3
    draft.refresh_from_db()
    assert draft.status == Message.Status.QUEUED and draft.approved_by == owner
    decision = Decision.objects.get(case_id=first)
    assert decision.status == Decision.Status.APPROVED
    assert decision.note == "The supplier confirmed the stockout and gave a range."
    # the page moved on to the next case of the routine view
    assert f"/cases/{first}/" not in page.url
    assert "/cases/" in page.url and "from=%2Fcases%2Froutine%2F" in page.url

    page.goto("/cases/routine/")
    expect(page.locator("[data-accept-all]")).to_have_text(f"Accept all {ROUTINE_CASES - 1}")
    actions = 0
    page.locator("[data-accept-all]").click()  # opens the confirmation; nothing happens yet
    expect(page.locator("#accept-all-dialog .accept-message")).to_have_count(ROUTINE_CASES - 1)
    page.screenshot(path=artifacts / "accept-all-1366.png")
    page.locator("[data-confirm-accept-all]").click()
    actions += 1
    expect(page.locator(".flash")).to_contain_text(f"Accepted {ROUTINE_CASES - 1} cases")
    assert actions == 1
    for case, message in made:
        message.refresh_from_db()
        assert message.status == Message.Status.QUEUED
        assert Case.objects.get(pk=case.pk).status == Case.Status.WAITING
    flash = page.locator(".flash").inner_text()
    for case, _ in made[1:]:
        if case.pk != first:
            assert case.order.number in flash


def test_the_queue_the_case_page_the_drafts_and_the_review_fit_a_phone(browser, live_server, owner, artifacts):
    case, _ = routine_case("#4101")
    for n in range(3):
        case_with_packet(contract_content(order_number=f"#42{n:02d}", risk_level="chargeback_watch"))
    context = browser.new_context(viewport=PHONE, base_url=live_server.url, is_mobile=True, has_touch=True)
    context.set_default_timeout(10_000)
    phone = context.new_page()
    try:
        sign_in(phone, owner.username)
        for path, name in [
            ("/cases/", "queue-390.png"),
            ("/cases/routine/", "routine-390.png"),
            (f"/cases/{case.pk}/", "case-390.png"),
            ("/cases/drafts/", "drafts-390.png"),
            ("/review/weekly/", "review-390.png"),
        ]:
            phone.goto(path)
            phone.wait_for_load_state("networkidle")
            phone.screenshot(path=artifacts / name, full_page=True)
            assert widest(phone) <= PHONE["width"], (path, widest(phone))
            expect(phone.locator("#site-nav")).to_be_hidden()  # the nav folds behind "Menu"
        phone.locator("[data-menu-toggle]").click()
        expect(phone.locator("#site-nav")).to_be_visible()
        phone.goto("/cases/")
        row = phone.locator(f'#case-rows tr[data-case-id="{case.pk}"]')
        expect(row.locator(".case-title")).to_contain_text("#4101")  # the case column: the order
        expect(row.locator(".sub")).to_contain_text(case.order.customer.name)  # and the customer
    finally:
        context.close()
