"""Shared fixtures: the named people of the store, and the PostgreSQL rule.

Tests marked ``postgres`` need PostgreSQL's behaviour (row locks, triggers, concurrency). They
run whenever ``CI=true``, and fail there, loudly, if the database is anything else; on a laptop
with the zero-setup SQLite database they are skipped with a reason.
"""

from __future__ import annotations

import os

import pytest
from django.db import connection

from backorders.roles import OWNER, SUPPORT, ensure_groups
from tests import factories


def pytest_runtest_setup(item):
    if item.get_closest_marker("postgres") is None:
        return
    if connection.vendor == "postgresql":
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("This test needs PostgreSQL and CI=true: set DATABASE_URL to a PostgreSQL database.")
    pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://... to run it")


@pytest.fixture(autouse=True)
def packet_pdf_cache(settings, tmp_path_factory):
    """Each test keeps its packet PDFs in a folder of its own."""
    settings.PACKET_PDF_CACHE_DIR = str(tmp_path_factory.mktemp("packet-pdfs"))
    return settings.PACKET_PDF_CACHE_DIR


@pytest.fixture
def owner(db):
    """Olivia owns the store: she decides refunds, cancellations and supplier switches."""
    user = factories.UserFactory(username="olivia", first_name="Olivia", last_name="Owner")
    user.groups.add(ensure_groups()[OWNER])
    return user


@pytest.fixture
def support(db):
    """Sam answers customers: records outcomes and proposes, but does not approve money moves."""
    user = factories.UserFactory(username="sam", first_name="Sam", last_name="Support")
    user.groups.add(ensure_groups()[SUPPORT])
    return user


@pytest.fixture
def outsider(db):
    """Otto has an account but no role in this store."""
    return factories.UserFactory(username="otto")


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def support_client(client, support):
    client.force_login(support)
    return client


@pytest.fixture
def policy(db):
    from backorders.models import StorePolicy

    return StorePolicy.objects.current()
