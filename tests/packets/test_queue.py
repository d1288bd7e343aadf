"""The owner's queue: urgency order, filters with counts, search, pages, htmx and bulk actions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from backorders.models import ChannelStock
from packets import decisions as verbs
from packets.models import Case, Decision, Message
from packets.queue import store_today
from tests import factories
from tests.packets.packet_content import case_with_packet, contract_content

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)


def queued_titles(response) -> list[str]:
    return re.findall(r'class="case-title"[^>]*>([^<]+)</a>', response.content.decode())


def facet(response, name: str) -> dict[str, int]:
    """The facet's labels and counts as the page shows them."""
    body = response.content.decode()
    section = re.search(rf'data-facet="{name}">(.*?)</section>', body, re.S).group(1)
    return {
        label: int(count)
        for label, count in re.findall(
            r'class="facet-label">([^<]+)</span><span class="facet-count">(\d+)</span>', section
        )
    }


def make(title, **fields):
    return factories.CaseFactory(title=title, **fields)


def test_it_ranks_by_money_and_trust_at_stake_not_by_risk_label(owner_client):
    now = timezone.now()
    today = store_today()

    def order(total, promised_days_ago=None):
        promised = today - timedelta(days=promised_days_ago) if promised_days_ago is not None else None
        return factories.OrderFactory(total=Decimal(total), promised_ship_by=promised)

    # value x (1 + missed-promise steps + silence steps + 2 for a chargeback sign)
    make("small owner-only", risk_level="owner_only", risk_rank=50, order=order("20.00"))  # 20
    make("small chargeback", risk_level="chargeback_watch", risk_rank=60, order=order("20.00"))  # 60
    make("big order, on time", order=order("300.00"))  # 300
    make("mid, promise missed 10 days", order=order("90.00", promised_days_ago=10))  # 270
    make(
        "mid, missed and silent 8 days",
        order=order("90.00", promised_days_ago=1),
        customer_silent_since=now - timedelta(days=8),
    )  # 90 x 4 = 360
    make("mid, quiet", order=order("90.00"), customer_silent_since=now - timedelta(days=1))  # 90

    titles = queued_titles(owner_client.get("/cases/"))

    assert titles == [
        "mid, missed and silent 8 days",
        "big order, on time",
        "mid, promise missed 10 days",
        "mid, quiet",
        "small chargeback",
        "small owner-only",
    ]


def test_each_row_shows_the_order_value_and_the_oldest_unanswered_customer_word(owner_client):
    now = timezone.now()
    answered = make("answered", order=factories.OrderFactory(total=Decimal("84.20")))
    factories.InboundMessageFactory(case=answered, received_at=now - timedelta(days=3))
    factories.MessageFactory(
        case=answered, status=Message.Status.SENT, approved_at=now - timedelta(days=2), sent_at=now - timedelta(days=2)
    )
    waiting = make("waiting", order=factories.OrderFactory(total=Decimal("84.20"), promised_ship_by=None))
    factories.InboundMessageFactory(case=waiting, received_at=now - timedelta(days=5))
    factories.InboundMessageFactory(case=waiting, received_at=now - timedelta(hours=2))
    late = make("late", order=factories.OrderFactory(promised_ship_by=store_today() - timedelta(days=4)))

    body = owner_client.get("/cases/").content.decode()

    rows = dict(re.findall(r'data-case-id="(\d+)">(.*?)</tr>', body, re.S))
    assert "$84.20" in rows[str(waiting.pk)]
    assert re.search(r'class="unanswered"[^>]*>5 d<', rows[str(waiting.pk)])
    assert 'class="unanswered"' not in rows[str(answered.pk)]
    assert "promise missed 4 d" in rows[str(late.pk)]
    assert "promise missed" not in rows[str(waiting.pk)]
    assert "promise at risk" not in body


@time_machine.travel(NOW, tick=False)
def test_it_filters_by_every_facet_and_counts_what_each_click_would_show(owner_client, support):
    northwind = factories.SupplierFactory(name="Northwind")
    harbor = factories.SupplierFactory(name="Harbor")
    mug = factories.ProductFactory(sku="MUG-SAGE")
    lamp = factories.ProductFactory(sku="LAMP-BLACK")
    make("a", kind="stockout", supplier=northwind, product=mug, opened_at=NOW - timedelta(hours=3), assignee=support)
    make("b", kind="stockout", supplier=northwind, product=lamp, opened_at=NOW - timedelta(days=2))
    make("c", kind="backorder", supplier=harbor, product=mug, opened_at=NOW - timedelta(days=10))
    make(
        "d",
        kind="stale_tracking",
        category="stale_in_transit",
        risk_level="refund_risk",
        risk_rank=40,
        opened_at=NOW - timedelta(days=5),
    )

    everything = owner_client.get("/cases/")
    assert facet(everything, "kind") == {"Stockout": 2, "Backorder": 1, "Stale tracking": 1}
    assert facet(everything, "supplier") == {"Northwind": 2, "Harbor": 1}
    assert facet(everything, "sku") == {"MUG-SAGE": 2, "LAMP-BLACK": 1}
    assert facet(everything, "age") == {"Under a day": 1, "1–3 days": 1, "3–7 days": 1, "Over a week": 1}
    assert facet(everything, "assignee") == {"Unassigned": 3, "Sam": 1}

    stockouts = owner_client.get("/cases/?kind=stockout")
    assert sorted(queued_titles(stockouts)) == ["a", "b"]
    # Other facets count within the stockouts; the kind facet still offers the other kinds.
    assert facet(stockouts, "sku") == {"MUG-SAGE": 1, "LAMP-BLACK": 1}
    assert facet(stockouts, "kind") == {"Stockout": 2, "Backorder": 1, "Stale tracking": 1}

    assert queued_titles(owner_client.get(f"/cases/?supplier={harbor.pk}")) == ["c"]
    assert sorted(queued_titles(owner_client.get("/cases/?sku=MUG-SAGE"))) == ["a", "c"]
    assert queued_titles(owner_client.get("/cases/?category=stale_in_transit")) == ["d"]
    assert queued_titles(owner_client.get("/cases/?risk=refund_risk")) == ["d"]
    assert queued_titles(owner_client.get("/cases/?age=gt7")) == ["c"]
    assert queued_titles(owner_client.get("/cases/?age=1to3")) == ["b"]
    assert queued_titles(owner_client.get(f"/cases/?assignee={support.pk}")) == ["a"]
    assert sorted(queued_titles(owner_client.get("/cases/?assignee=none"))) == ["b", "c", "d"]
    assert queued_titles(owner_client.get("/cases/?kind=stockout&sku=MUG-SAGE")) == ["a"]


@time_machine.travel(NOW, tick=False)
def test_the_pager_counts_what_the_filters_and_search_show(owner_client, support):
    harbor = factories.SupplierFactory(name="Harbor")
    order = factories.OrderFactory(number="#4321")
    for n in range(30):
        make(
            f"case {n}",
            kind="stockout" if n % 3 else "backorder",
            supplier=harbor if n % 2 else None,
            assignee=support if n % 5 == 0 else None,
            opened_at=NOW - timedelta(hours=7 * n),
            dedupe_key=f"test:{n}",
            **({"order": order} if n % 4 == 0 else {}),
        )
    make("resolved", kind="stockout", status="resolved", resolved_at=NOW)
    for query in [
        "",
        "kind=stockout",
        f"kind=stockout&supplier={harbor.pk}",
        "age=lt1",
        "age=1to3&kind=backorder",
        "assignee=none&q=4321",
        "q=4321",
        f"assignee={support.pk}&age=gt7",
    ]:
        response = owner_client.get(f"/cases/?{query}")
        shown = len(queued_titles(response))
        if "Page 1 of 2" in response.content.decode():
            shown += len(queued_titles(owner_client.get(f"/cases/?{query}&page=2")))
        total = int(re.search(r"data-total>(\d+)<", response.content.decode()).group(1))
        assert total == shown == response.context["page"].paginator.count, query


def test_it_searches_by_order_number_customer_and_sku(owner_client):
    order = factories.OrderFactory(number="#4321", customer=factories.CustomerFactory(name="Ines Moreau"))
    line = factories.OrderLineFactory(order=order, product=factories.ProductFactory(sku="KETTLE-2L"))
    make("kettle order", order=order)
    make("other", product=factories.ProductFactory(sku="CLOCK-OAK"))

    for text in ["4321", "#4321", "ines", "moreau", "kettle-2l", line.sku]:
        assert queued_titles(owner_client.get("/cases/", {"q": text})) == ["kettle order"], text
    assert queued_titles(owner_client.get("/cases/", {"q": "CLOCK"})) == ["other"]
    assert queued_titles(owner_client.get("/cases/", {"q": "nobody-like-this"})) == []


def test_it_shows_25_rows_a_page(owner_client):
    factories.CaseFactory.create_batch(27)
    first = owner_client.get("/cases/")
    second = owner_client.get("/cases/?page=2")
    assert len(queued_titles(first)) == 25 and len(queued_titles(second)) == 2
    assert "Page 1 of 2" in first.content.decode()


def test_pages_follow_the_rank_across_page_boundaries(owner_client):
    """A page's ids are ranked apart from its rows (``RankedCases``): page 2 continues page 1."""
    for value in range(1, 31):  # order values 10..300, shuffled in creation order
        total = Decimal((value * 7919) % 31 * 10)
        make(f"worth {total}", order=factories.OrderFactory(total=total, promised_ship_by=None))
    shown = queued_titles(owner_client.get("/cases/")) + queued_titles(owner_client.get("/cases/?page=2"))
    ranked = sorted(shown, key=lambda title: -Decimal(title.split()[1]))
    assert len(shown) == 30 and shown == ranked


def test_it_answers_htmx_with_the_rows_alone_and_keeps_plain_links(owner_client):
    case_with_packet()
    response = owner_client.get("/cases/?kind=stockout", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body and 'id="results"' in body and "bulk-form" in body
    # Every htmx link is also a plain link.
    hx_links = re.findall(r"<a [^>]*hx-get=[^>]*>", body)
    assert hx_links and all("href=" in link for link in hx_links)
    assert 'hx-push-url="true"' in body


def test_it_explains_a_bad_filter(owner_client):
    response = owner_client.get("/cases/?kind=teleport&supplier=abc")
    assert response.status_code == 400
    body = response.content.decode()
    assert "Select a valid choice" in body and "Enter a whole number" in body


def test_it_forbids_the_queue_to_people_without_a_role(client, outsider):
    client.force_login(outsider)
    assert client.get("/cases/").status_code == 403
    assert client.post("/cases/bulk/", {"case_ids": [1], "operation": "assign"}).status_code == 403
    assert client.get("/cases/drafts/").status_code == 403


@pytest.mark.parametrize("rows", [1, 50])
def test_it_builds_the_queue_in_a_fixed_number_of_queries(owner_client, django_assert_num_queries, rows):
    for _ in range(rows):
        case_with_packet(assignee=factories.UserFactory())
    # session, user, user's groups, facet counts (one grouped query, which also counts the rows
    # for the pager), the current policy (the bulk form's default check day), the page of cases
    # with its joins, staff for the bulk assign menu
    with django_assert_num_queries(7):
        response = owner_client.get("/cases/?q=example.com")
    assert len(queued_titles(response)) == min(rows, 25)
    # the htmx partial skips the bulk form's staff menu
    with django_assert_num_queries(6):
        response = owner_client.get("/cases/?q=example.com", HTTP_HX_REQUEST="true")
    assert len(queued_titles(response)) == min(rows, 25)
    # the urgent view reads the routine cases first: the current policy, the candidate cases, their
    # customer drafts and their latest packets; all of these cases are routine, so the empty page of
    # cases is not read
    with django_assert_num_queries(10):
        response = owner_client.get("/cases/?view=urgent")
    assert queued_titles(response) == []


def test_it_assigns_ticked_cases_in_bulk(owner_client, support):
    first, _ = case_with_packet()
    second, _ = case_with_packet()
    response = owner_client.post(
        "/cases/bulk/",
        {"case_ids": [first.pk, second.pk], "operation": "assign", "assignee": support.pk, "next": "/cases/?kind=x"},
    )
    assert response.status_code == 302 and response["Location"] == "/cases/?kind=x"
    assert set(Case.objects.values_list("assignee", flat=True)) == {support.pk}


def test_it_accepts_routine_recommendations_in_bulk_and_says_what_it_skipped(support_client):
    routine, _ = case_with_packet()
    weak, _ = case_with_packet(contract_content(evidence={"strength": "weak", "uncertainty": []}))
    check = (timezone.localdate() + timedelta(days=3)).isoformat()

    response = support_client.post(
        "/cases/bulk/", {"case_ids": [routine.pk, weak.pk], "operation": "accept", "next_check_on": check}, follow=True
    )

    body = response.content.decode()
    assert "Accepted the recommendation on 1 case." in body
    assert f"Skipped case {weak.pk}: evidence is weak." in body
    assert Decision.objects.get().case == routine
    routine.refresh_from_db()
    assert routine.status == Case.Status.WAITING


def test_it_refuses_a_bulk_action_with_nothing_ticked(owner_client):
    response = owner_client.post("/cases/bulk/", {"operation": "assign"})
    assert response.status_code == 400
    assert "Tick at least one row." in response.content.decode()


def test_it_lists_routine_drafts_and_approves_them_in_bulk(support_client, django_capture_on_commit_callbacks):
    case, _ = case_with_packet()
    routine = factories.MessageFactory(case=case, step="update_48h", subject="48h update")
    factories.MessageFactory(case=case, step="update_48h", subject="Flagged", guideline_issues=["Too long"])
    factories.MessageFactory(case=case, step="confirmation", subject="Confirmation")

    listed = support_client.get("/cases/drafts/?routine=1").content.decode()
    assert "48h update" in listed and "Flagged" not in listed and "Confirmation" not in listed
    assert "Flagged" in support_client.get("/cases/drafts/").content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = support_client.post("/cases/drafts/approve/", {"message_ids": [routine.pk]}, follow=True)
    assert "Approved 1 draft." in response.content.decode()
    routine.refresh_from_db()
    assert routine.status == Message.Status.QUEUED


@pytest.mark.parametrize("rows", [1, 30])
def test_it_lists_drafts_in_a_fixed_number_of_queries(owner_client, django_assert_num_queries, rows):
    case, _ = case_with_packet()
    for _ in range(rows):
        factories.MessageFactory(case=case, step="update_48h")
    # session, user, user's groups, count for the pager, the page of drafts with their cases
    with django_assert_num_queries(5):
        assert owner_client.get("/cases/drafts/").status_code == 200


def test_an_empty_queue_says_so_and_counts_zero(owner_client):
    body = owner_client.get("/cases/").content.decode()

    assert "No open cases. When stock runs short" in body
    assert re.search(r"data-total>0</span>", body)
    make("only one", status="closed")
    filtered = owner_client.get("/cases/?q=nothing-matches").content.decode()
    assert "No open case matches these filters." in filtered


def test_the_connections_page_is_in_the_owners_menu_only(client, owner, support):
    client.force_login(owner)
    assert 'href="/connections/"' in client.get("/cases/").content.decode()
    client.force_login(support)
    assert 'href="/connections/"' not in client.get("/cases/").content.decode()


def test_decided_cases_leave_the_default_queue_and_show_on_request(owner_client):
    make("to decide")
    make("waiting for the owner", status="awaiting_owner")
    make("decided", status="actioned")

    default = owner_client.get("/cases/")
    assert queued_titles(default) == ["to decide", "waiting for the owner"]
    assert sum(facet(default, "kind").values()) == 2  # the counts agree with the rows
    assert 'href="?decided=1"' in default.content.decode()

    everything = owner_client.get("/cases/?decided=1")
    assert sorted(queued_titles(everything)) == ["decided", "to decide", "waiting for the owner"]
    assert sum(facet(everything, "kind").values()) == 3
    assert "Hide decided cases" in everything.content.decode()


def test_deciding_takes_the_case_out_of_the_queue(owner, owner_client):
    case, _ = case_with_packet()
    assert case.title in queued_titles(owner_client.get("/cases/"))
    verbs.decide(case.pk, owner, action="chase_supplier", note="Emailed Northwind")
    assert case.title not in queued_titles(owner_client.get("/cases/"))


def test_the_urgent_view_leaves_out_the_routine_cases_that_the_routine_view_holds(owner_client):
    routine, _ = case_with_packet(contract_content(order_number="#5001"), title="routine")
    factories.MessageFactory(case=routine, order=routine.order, step="update_48h")
    case_with_packet(contract_content(order_number="#5002", risk_level="chargeback_watch"), title="urgent")

    everything = owner_client.get("/cases/")
    urgent_only = owner_client.get("/cases/", {"view": "urgent"})
    searched = owner_client.get("/cases/", {"view": "urgent", "q": "routine"})

    assert sorted(queued_titles(everything)) == ["routine", "urgent"]
    assert queued_titles(urgent_only) == ["urgent"]
    assert "1 routine left out" in urgent_only.content.decode()
    assert facet(urgent_only, "risk") == {"Chargeback watch": 1}
    assert queued_titles(searched) == []
    assert queued_titles(owner_client.get("/cases/routine/")) == ["Order " + routine.order.number]


def test_a_case_whose_product_a_channel_oversells_is_flagged_until_the_desks_number_is_set(owner_client):
    product = factories.ProductFactory(sku="MUG-SAGE", shopify_inventory_item_id="91")
    make("mug backorder", product=product)
    make("another case")
    then = timezone.now()
    row = ChannelStock.objects.create(
        product=product,
        platform="shopify",
        channel_available=9,
        wanted=5,
        pushed=5,
        pushed_at=then - timedelta(minutes=5),
        status="failed",
        error="The location is not active.",
        mismatch_at=then,
        mismatch_channel=9,
        mismatch_desk=5,
    )
    body = owner_client.get("/cases/").content.decode()
    assert body.count("data-oversell") == 1
    assert f'href="/products/{product.pk}/"' in body and "Shopify offers more than we have" in body

    ChannelStock.objects.filter(pk=row.pk).update(pushed_at=then + timedelta(seconds=1), status="succeeded")
    assert "data-oversell" not in owner_client.get("/cases/").content.decode()
