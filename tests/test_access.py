"""Login everywhere; roles decide what a signed-in person may see."""

import pytest
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", ["/", "/cases/", "/cases/1/"])
def test_it_sends_anonymous_visitors_to_the_login_page(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_serves_the_login_page_without_a_login(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content


def test_it_leads_home_to_the_case_queue(owner_client):
    response = owner_client.get("/")
    assert response.status_code == 302 and response["Location"] == "/cases/"


def test_it_forbids_a_signed_in_user_without_a_role(client, outsider):
    client.force_login(outsider)
    assert client.get("/cases/").status_code == 403


def test_it_lists_open_cases_for_owner_and_support(owner_client, support, client):
    open_case = factories.CaseFactory(title="Order #1001 waits on the red mug")
    factories.CaseFactory(title="An old resolved one", status="resolved", resolved_at=open_case.opened_at)
    for c in (owner_client,):
        body = c.get("/cases/").content.decode()
        assert "Order #1001 waits on the red mug" in body
        assert "An old resolved one" not in body
    client.force_login(support)
    assert client.get(f"/cases/{open_case.pk}/").status_code == 200


@pytest.mark.parametrize("rows", [1, 50])
def test_it_lists_cases_in_a_fixed_number_of_queries(owner_client, django_assert_num_queries, rows):
    factories.CaseFactory.create_batch(rows)
    # session, user, user's groups (role), facet counts (one grouped query, which also counts the rows for the
    # pager), the current policy (default check day of the bulk form), the page of cases with joins, staff for the
    # assign menu
    with django_assert_num_queries(7):
        assert owner_client.get("/cases/").status_code == 200
