"""Risk levels, recommendations, customer risk and options: table-driven over plain facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from packets.rules import facts as f
from packets.rules.customer import CustomerRisk, assess_customer
from packets.rules.facts import InboundFacts, OrderFacts, PolicyFacts, SourceFacts
from packets.rules.options import OptionInputs, Replacement, build_options
from packets.rules.risk import RiskContext, assess_risk, recommend

NOW = datetime(2026, 11, 18, 17, tzinfo=UTC)
POLICY = PolicyFacts()
CALM = CustomerRisk(urgency="low", repeat_contact=0, intents=[], sentiment=None)


def order(days_ago=2, total="40.00", orders_count=0, heard_hours_ago=1, inbound=()) -> OrderFacts:
    return OrderFacts(
        total=Decimal(total),
        placed_at=NOW - timedelta(days=days_ago),
        orders_count=orders_count,
        customer_silent_since=NOW - timedelta(hours=heard_hours_ago),
        inbound=tuple(inbound),
    )


def said(*intents, sentiment=0.0) -> InboundFacts:
    return InboundFacts(received_at=NOW - timedelta(hours=2), sentiment=sentiment, intents=intents)


def ctx(kind, category, customer=CALM, **extra) -> RiskContext:
    return RiskContext(kind=kind, category=category, now=NOW, customer=customer, **extra)


@pytest.mark.parametrize(
    ("context", "risk"),
    [
        (ctx(f.BACKORDER, f.RESTOCK_DELAY, order=order(), evidence_strength="confirmed"), f.NORMAL_WATCH),
        (ctx(f.BACKORDER, f.RESTOCK_DELAY, order=order(), evidence_strength="weak"), f.SUPPLIER_CHASE),
        (ctx(f.BACKORDER, f.SUPPLIER_SILENCE, order=order()), f.SUPPLIER_CHASE),
        (
            ctx(f.BACKORDER, f.RESTOCK_DELAY, order=order(), evidence_strength="confirmed", promise_passed=True),
            f.CUSTOMER_UPDATE,
        ),
        (
            ctx(
                f.BACKORDER,
                f.RESTOCK_DELAY,
                order=order(heard_hours_ago=50),
                evidence_strength="confirmed",
                promise_at_risk=True,
            ),
            f.CUSTOMER_UPDATE,
        ),
        (ctx(f.BACKORDER, f.BACKUP_CANDIDATE, order=order()), f.CUSTOMER_UPDATE),
        (ctx(f.BACKORDER, f.DISCONTINUED, order=order()), f.REFUND_RISK),
        (ctx(f.BACKORDER, f.RESTOCK_DELAY, order=order(days_ago=31), evidence_strength="confirmed"), f.REFUND_RISK),
        (ctx(f.BACKORDER, f.VARIANT_MISSING, order=order(orders_count=5)), f.OWNER_ONLY),  # VIP with money at stake
        (ctx(f.BACKORDER, f.VARIANT_MISSING, order=order(total="300.00")), f.OWNER_ONLY),  # high value
        (ctx(f.STOCKOUT, f.LOW_STOCK, stock_level="watch"), f.NORMAL_WATCH),
        (ctx(f.STOCKOUT, f.SUPPLIER_OUT_OF_STOCK, waiting_orders=3, waiting_units=4), f.SUPPLIER_CHASE),
        (
            ctx(f.STOCKOUT, f.SUPPLIER_OUT_OF_STOCK, waiting_orders=9, waiting_units=20, stock_level="owner_only"),
            f.OWNER_ONLY,
        ),
        (ctx(f.STOCKOUT, f.BACKUP_CANDIDATE, waiting_orders=2, waiting_units=2), f.OWNER_ONLY),
        (ctx(f.STALE_TRACKING, f.LABEL_CREATED_ONLY, order=order()), f.CUSTOMER_UPDATE),
        (ctx(f.STALE_TRACKING, f.STALE_IN_TRANSIT, order=order()), f.CUSTOMER_UPDATE),
        (ctx(f.STALE_TRACKING, f.DELIVERED_CONFLICT, order=order()), f.REFUND_RISK),
        (ctx(f.STALE_TRACKING, f.EXPIRED_TRACKING, order=order()), f.REFUND_RISK),
        (ctx(f.STALE_TRACKING, f.SUPPLIER_SILENCE, order=order()), f.SUPPLIER_CHASE),
        (ctx(f.STALE_TRACKING, f.UNCLEAR, order=order()), f.NORMAL_WATCH),
        (ctx(f.SUPPLIER, f.SUPPLIER_SILENCE, waiting_units=3), f.SUPPLIER_CHASE),
        (ctx(f.SUPPLIER, f.SUPPLIER_SILENCE, waiting_units=25), f.OWNER_ONLY),
    ],
)
def test_it_rates_the_risk(context, risk):
    assert assess_risk(context, POLICY) == risk
    assert context.reasons, "every risk says why"


@pytest.mark.parametrize(
    ("messages", "escalation", "urgency"),
    [
        ([], None, "low"),
        ([said("where_is_my_order", sentiment=0.44)], None, "medium"),
        ([said("chargeback", sentiment=-0.4)], f.CHARGEBACK_WATCH, "high"),
        ([said("legal_threat", sentiment=-0.2)], f.CHARGEBACK_WATCH, "high"),
        ([said("bad_review", sentiment=-0.36)], f.OWNER_ONLY, "high"),
        ([said(sentiment=-0.51)], f.OWNER_ONLY, "high"),  # just under the policy's -0.50
        ([said(sentiment=-0.50)], None, "medium"),  # at the line: not under it
        ([said("callback_requested", sentiment=0.2)], None, "high"),  # support calls back first
    ],
)
def test_the_customers_words_set_urgency_and_escalation(messages, escalation, urgency):
    risk = assess_customer(order(inbound=messages), POLICY)
    assert (risk.escalation, risk.urgency) == (escalation, urgency)
    assert risk.repeat_contact == len(messages)


def test_an_escalating_customer_lifts_any_case_to_the_owner():
    threat = assess_customer(order(inbound=[said("chargeback", sentiment=-0.6)]), POLICY)
    context = ctx(f.BACKORDER, f.RESTOCK_DELAY, customer=threat, order=order(), evidence_strength="confirmed")
    assert assess_risk(context, POLICY) == f.CHARGEBACK_WATCH
    assert recommend(context)[0] == f.REFUND


def test_a_request_for_a_call_goes_to_support_with_callback_priority():
    caller = assess_customer(order(inbound=[said("callback_requested", sentiment=0.3)]), POLICY)
    assert caller.urgency == "high" and caller.escalation is None
    assert "Support calls them back first (callback priority)" in " ".join(caller.signals)
    for kind, category in [(f.BACKORDER, f.RESTOCK_DELAY), (f.STALE_TRACKING, f.STALE_IN_TRANSIT)]:
        context = ctx(kind, category, customer=caller, order=order(), evidence_strength="confirmed")
        assert assess_risk(context, POLICY) == f.CUSTOMER_UPDATE
        action, reason = recommend(context)
        assert action == f.MESSAGE_CUSTOMER and "support calls them back first" in reason


def test_a_call_request_with_chargeback_words_stays_with_the_owner():
    both = assess_customer(order(inbound=[said("chargeback", "callback_requested", sentiment=-0.6)]), POLICY)
    context = ctx(f.BACKORDER, f.RESTOCK_DELAY, customer=both, order=order(), evidence_strength="confirmed")
    assert assess_risk(context, POLICY) == f.CHARGEBACK_WATCH
    assert recommend(context)[0] == f.REFUND


def test_a_policy_that_does_not_escalate_on_sentiment_still_escalates_threats():
    quiet = PolicyFacts(escalate_negative_sentiment=False)
    assert assess_customer(order(inbound=[said(sentiment=-0.9)]), quiet).escalation is None
    assert assess_customer(order(inbound=[said("legal_threat")]), quiet).escalation == f.CHARGEBACK_WATCH


@pytest.mark.parametrize(
    ("context", "action"),
    [
        (ctx(f.BACKORDER, f.RESTOCK_DELAY, order=order(), evidence_strength="confirmed"), f.WAIT),
        (ctx(f.BACKORDER, f.RESTOCK_DELAY, order=order(), promise_passed=True), f.MESSAGE_CUSTOMER),
        (ctx(f.BACKORDER, f.DISCONTINUED, order=order(), has_replacement=True), f.OFFER_REPLACEMENT),
        (ctx(f.BACKORDER, f.VARIANT_MISSING, order=order()), f.CANCEL),
        (ctx(f.BACKORDER, f.BACKUP_CANDIDATE, order=order(), backup_needs_consent=True), f.OFFER_REPLACEMENT),
        (ctx(f.STOCKOUT, f.SUPPLIER_OUT_OF_STOCK, waiting_orders=4), f.PAUSE_PRODUCT),
        (
            ctx(f.STOCKOUT, f.BACKUP_CANDIDATE, product_active=False, has_backup=True, waiting_orders=2),
            f.SWITCH_SUPPLIER,
        ),
        (ctx(f.STOCKOUT, f.LOW_STOCK, stock_level="watch"), f.CHASE_SUPPLIER),
        (ctx(f.STALE_TRACKING, f.LABEL_CREATED_ONLY), f.REQUEST_PROOF),
        (ctx(f.STALE_TRACKING, f.SUPPLIER_SILENCE), f.CHASE_SUPPLIER),
        (ctx(f.STALE_TRACKING, f.DELIVERED_CONFLICT), f.REQUEST_PROOF),
        (ctx(f.STALE_TRACKING, f.CARRIER_EXCEPTION), f.MESSAGE_CUSTOMER),
        (ctx(f.STALE_TRACKING, f.EXPIRED_TRACKING), f.ESCALATE),
        (ctx(f.SUPPLIER, f.SUPPLIER_SILENCE), f.CHASE_SUPPLIER),
    ],
)
def test_it_recommends_a_next_move_with_a_reason(context, action):
    chosen, reason = recommend(context)
    assert chosen == action and reason


def test_options_carry_cost_margin_time_quality_and_who_must_agree():
    primary = SourceFacts(1, "Copperline", "primary", Decimal("58.00"), 10, 6)
    backup = SourceFacts(2, "Alpine", "backup", Decimal("66.00"), 4, 3, "Stainless handle", True)
    options = build_options(
        OptionInputs(
            kind=f.BACKORDER,
            units=2,
            unit_price=Decimal("129.00"),
            unit_cost=Decimal("58.00"),
            short_value=Decimal("258.00"),
            primary=primary,
            backups=(backup,),
            replacements=(Replacement("KETTLE-15L", "Copper Kettle (1.5 L)", Decimal("119.00"), Decimal("50"), 9),),
        ),
        POLICY,
    )
    by_action = {o["action"]: o for o in options}
    switch = by_action[f.SWITCH_SUPPLIER]
    assert switch["margin_impact"] == "-16.00" and switch["shipping_days_difference"] == -9
    assert switch["needs_customer_consent"] and switch["needs_owner"] and switch["quality_risk"] == "Stainless handle"
    swap = by_action[f.OFFER_REPLACEMENT]
    assert swap["margin_impact"] == "16.00" and swap["needs_customer_consent"] and swap["needs_owner"]
    assert by_action[f.REFUND]["cost"] == "258.00" and by_action[f.REFUND]["needs_owner"]
    assert not by_action[f.WAIT]["needs_owner"] and "No confirmed date" in by_action[f.WAIT]["notes"]
