"""A real Chromium (Debian's, driven by Playwright's sync API) against the live test server.

Playwright's sync API runs an event loop in the test's thread, so Django's guard against ORM calls
from async code would trip on the test's own database reads: the tests allow them explicitly.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAPTOP = {"width": 1366, "height": 768}


@pytest.fixture(autouse=True)
def roles_and_policy(transactional_db):
    """Transactional tests flush the database after each test, taking the roles and the default
    policy that migrations made with it: put them back before each browser test."""
    from django.contrib.auth.models import Group

    from backorders.models import StorePolicy
    from backorders.roles import OWNER, SUPPORT

    for name in (OWNER, SUPPORT):
        Group.objects.get_or_create(name=name)
    StorePolicy.objects.current()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport=LAPTOP, base_url=live_server.url)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


FACTORY_PASSWORD = "correct horse battery staple"  # what tests.factories.UserFactory sets


def sign_in(page, username: str, password: str = FACTORY_PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/cases/")
