"""Headers every page carries: a strict Content-Security-Policy everywhere, and no-store on what a
signed-in person sees and on the customer's page (the browser check is tests/e2e/test_content_security_policy.py)."""

from __future__ import annotations

import pytest

from packets.notify.links import customer_path
from tests import factories

pytestmark = pytest.mark.django_db


def directives(response) -> dict[str, str]:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in policy.split(";") if part.strip()}


def test_every_answer_carries_a_policy_without_inline_script_or_style(client):
    policy = directives(client.get("/accounts/login/"))
    assert policy["script-src"] == "script-src 'self'"
    assert policy["style-src"] == "style-src 'self'"
    assert policy["default-src"] == "default-src 'self'"
    assert policy["frame-ancestors"] == "frame-ancestors 'none'"
    assert policy["object-src"] == "object-src 'none'" and policy["base-uri"] == "base-uri 'none'"


@pytest.mark.parametrize("path", ["/cases/", "/cases/drafts/", "/review/weekly/", "/imports/", "/admin/"])
def test_pages_behind_the_login_are_never_stored(owner_client, owner, path):
    owner.is_staff = True
    owner.save(update_fields=["is_staff"])
    response = owner_client.get(path)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]


def test_the_customers_page_is_never_stored(client):
    order = factories.OrderFactory()
    response = client.get(customer_path(order))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "no-store" in client.get("/o/not-a-token/")["Cache-Control"]


def test_templates_hold_no_inline_script_or_style():
    """The policy would block them: scripts and styles live in static files."""
    import re
    from pathlib import Path

    from django.conf import settings

    offenders = []
    for template in Path(settings.BASE_DIR).glob("*/templates/**/*.html"):
        if "/pdf/" in str(template) or template.name.endswith("_print.html"):
            continue  # rendered to PDF by WeasyPrint, never served to a browser
        text = template.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)|<style|\son[a-z]+=|\sstyle=|javascript:", text):
            offenders.append(str(template))
    assert offenders == []
