"""Stop and resume selling, and the backorder wording, on WooCommerce REST v3 (a loopback stand-in)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from packets.decisions import approve_decision
from packets.models import Case, Decision, StoreAction
from packets.store_actions.runner import run_store_action
from packets.store_actions.selling import propose, propose_resumes
from tests import factories
from tests.packets.store_fakes import woo  # noqa: F401

pytestmark = pytest.mark.postgres


def woo_case(product):
    return factories.CaseFactory(
        order=None,
        product=product,
        kind=Case.Kind.STOCKOUT,
        category=Case.Category.DISCONTINUED,
        dedupe_key=f"stockout:product:{product.pk}",
        title=f"{product.sku} is out of stock",
    )


def approve_pause(case, owner) -> StoreAction:
    decision = factories.DecisionFactory(case=case, action=Decision.Action.PAUSE_PRODUCT, decided_by=owner)
    approve_decision(decision.pk, owner)
    return StoreAction.objects.get(decision=decision)


def puts(woo) -> list[tuple[str, dict]]:  # noqa: F811
    return [(r["path"], r["body"]) for r in woo.created("PUT")]


@pytest.mark.django_db
def test_pause_sets_backorders_to_no_and_resume_puts_back_what_it_was(woo, owner):  # noqa: F811
    product = factories.ProductFactory(sku="SCARF", on_hand=0, woocommerce_id="501")
    woo.add_product("501", backorders="yes")
    case = woo_case(product)

    stop = approve_pause(case, owner)
    assert run_store_action(stop.pk) == "succeeded"
    stop.refresh_from_db()
    assert stop.response["before"] == {"backorders": "yes"}
    assert woo.products["501"]["backorders"] == "no"

    Case.objects.filter(pk=case.pk).update(status=Case.Status.RESOLVED, resolved_at=timezone.now())
    [resume] = propose_resumes()
    assert resume.plan["backorders"] == "yes"
    assert run_store_action(resume.pk) == "succeeded"
    assert puts(woo) == [
        ("/wp-json/wc/v3/products/501", {"backorders": "no"}),
        ("/wp-json/wc/v3/products/501", {"backorders": "yes"}),
    ]


@pytest.mark.django_db
def test_a_variation_is_changed_through_its_parents_variations_route(woo, owner):  # noqa: F811
    product = factories.ProductFactory(sku="SCARF-GREEN", on_hand=0, woocommerce_id="612")
    woo.add_product("612", backorders="no", parent_id=600)
    stop = approve_pause(woo_case(product), owner)
    assert run_store_action(stop.pk) == "succeeded"
    assert puts(woo) == [("/wp-json/wc/v3/products/600/variations/612", {"backorders": "no"})]

    resume = propose(product.pk, "resume_selling", owner)
    assert resume.plan["backorders"] == "notify"  # it was already "no": resuming takes backorders with notice
    run_store_action(resume.pk)
    assert woo.products["612"]["backorders"] == "notify"


@pytest.mark.django_db
def test_a_refused_update_fails_with_woocommerces_message(woo, owner):  # noqa: F811
    product = factories.ProductFactory(on_hand=0, woocommerce_id="502")
    woo.add_product("502")
    stop = approve_pause(woo_case(product), owner)
    woo.fail_next("PUT", "400")

    assert run_store_action(stop.pk) == "failed"
    stop.refresh_from_db()
    assert stop.error.startswith("WooCommerce answered 400: ")
    assert woo.products["502"]["backorders"] == "notify"


@pytest.mark.django_db
@pytest.mark.parametrize("fault", ["429", "500"])
def test_it_retries_a_throttled_or_failing_store_and_changes_it_once(woo, owner, fault):  # noqa: F811
    product = factories.ProductFactory(on_hand=0, woocommerce_id="503")
    woo.add_product("503")
    stop = approve_pause(woo_case(product), owner)
    woo.fail_next("PUT", fault)

    assert run_store_action(stop.pk) == ("pending" if fault == "429" else "needs_check")
    StoreAction.objects.filter(pk=stop.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert run_store_action(stop.pk) == "succeeded"
    assert puts(woo) == [("/wp-json/wc/v3/products/503", {"backorders": "no"})]


@pytest.mark.django_db
def test_a_change_the_store_took_without_answering_is_read_back(woo, owner):  # noqa: F811
    product = factories.ProductFactory(on_hand=0, woocommerce_id="504")
    woo.add_product("504")
    stop = approve_pause(woo_case(product), owner)
    woo.fail_next("PUT", "hang")

    assert run_store_action(stop.pk) == "needs_check"
    woo.release.set()
    assert run_store_action(stop.pk) == "succeeded after reading the store back"
    assert len([r for r in woo.requests if r["method"] == "PUT"]) == 1


@pytest.mark.django_db
def test_the_wording_is_product_meta_and_is_emptied_when_stock_returns(woo, owner):  # noqa: F811
    product = factories.ProductFactory(on_hand=0, woocommerce_id="613")
    woo.add_product("613", parent_id=610)  # a variation: the wording goes on the page's product

    wording = propose(product.pk, "set_wording", owner, text="Backordered: ships in 2–4 weeks.")
    assert run_store_action(wording.pk) == "succeeded"
    assert woo.meta("610") == "Backordered: ships in 2–4 weeks."

    product.on_hand = 3
    product.save(update_fields=["on_hand"])
    [clear] = propose_resumes()
    assert run_store_action(clear.pk) == "succeeded"
    assert woo.meta("610") == ""
    assert puts(woo)[-1] == (
        "/wp-json/wc/v3/products/610",
        {"meta_data": [{"key": "_backorder_desk_message", "value": ""}]},
    )
