"""Supply rules, table-driven: every supply category, the stock thresholds and supplier silence."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from backorders.calendar import BusinessCalendar
from packets.models import Case, Decision
from packets.rules import facts as f
from packets.rules.facts import PolicyFacts, ProductSupply, SourceFacts, SupplierFacts, UpdateFacts
from packets.rules.supply import classify_supply, is_silent, stock_level

CAL = BusinessCalendar(holidays=["2026-11-26"], tz="America/New_York")
NOW = datetime(2026, 11, 18, 17, tzinfo=UTC)  # Wednesday
POLICY = PolicyFacts()
PRIMARY = SourceFacts(1, "Northwind", "primary", Decimal("9.50"), 7, 3)
BACKUP = SourceFacts(2, "Alpine", "backup", Decimal("11.00"), 4, 3, "Thinner glaze", True)


def supplier(last_days_ago: float | None = 1, window: int | None = None) -> SupplierFacts:
    last = None if last_days_ago is None else NOW - timedelta(days=last_days_ago)
    return SupplierFacts(1, "Northwind", window, last)


def update(stock_status="out_of_stock", kind="stock_status", strength="confirmed", days_ago=1, uid=1, **extra):
    return UpdateFacts(
        id=uid,
        supplier_id=1,
        supplier_name="Northwind",
        product_id=7,
        kind=kind,
        stock_status=stock_status,
        strength=strength,
        received_at=NOW - timedelta(days=days_ago),
        **extra,
    )


def supply(*updates, status="active", backups=(), last_days_ago=1, po=None) -> ProductSupply:
    return ProductSupply(
        product_id=7,
        status=status,
        primary=PRIMARY,
        backups=backups,
        supplier=supplier(last_days_ago),
        updates=tuple(updates),
        open_po_quoted_at=po,
        open_po_reference="PO-1" if po else "",
    )


@pytest.mark.parametrize(
    ("facts", "category"),
    [
        (supply(update("out_of_stock")), "supplier_out_of_stock"),
        (supply(update("variant_missing")), "variant_missing"),
        (supply(update("discontinued")), "discontinued"),
        (supply(update("in_stock"), status="discontinued"), "discontinued"),
        (supply(update("out_of_stock"), backups=(BACKUP,)), "backup_candidate"),
        (supply(update("in_stock"), backups=(BACKUP,)), "unclear"),  # the primary has it: no switch
        (
            supply(update("out_of_stock", restock_from=date(2026, 12, 1), restock_to=date(2026, 12, 9))),
            "restock_delay",
        ),
        (supply(update("in_stock", kind="dispatch_claim", strength="weak")), "restock_delay"),
        (supply(po=date(2026, 11, 25)), "restock_delay"),
        (supply(last_days_ago=10), "supplier_silence"),
        (supply(last_days_ago=None), "supplier_silence"),  # never heard from
        (supply(), "unclear"),
    ],
)
def test_it_classifies_the_supply_problem(facts, category):
    assert classify_supply(facts, now=NOW, calendar=CAL, policy=POLICY).category == category


def test_it_names_a_conflict_and_marks_the_evidence_conflicting():
    first = update("in_stock", strength="weak", days_ago=6, uid=1, strength_reason="Phone call")
    second = update("out_of_stock", strength="conflicting", days_ago=2, uid=2, conflicts_with_id=1)
    verdict = classify_supply(supply(second, first), now=NOW, calendar=CAL, policy=POLICY)
    assert verdict.strength == "conflicting"
    assert verdict.conflicts == ["Northwind said in stock on Nov 12 (Phone call), then out of stock on Nov 16."]


def test_a_recorded_non_answer_is_not_the_supplier_speaking():
    silence = update("unknown", kind="silence", days_ago=0)
    verdict = classify_supply(supply(silence, last_days_ago=10), now=NOW, calendar=CAL, policy=POLICY)
    assert verdict.category == "supplier_silence" and verdict.latest is None


@pytest.mark.parametrize(
    ("days_ago", "window", "silent"),
    [
        (1, None, False),  # Tue -> Wed: 1 business day
        (5, None, True),  # Fri 13 -> Wed 18: 3 business days, the policy's window
        (4, None, True),  # Sat 14 -> Wed: Mon, Tue, Wed = 3
        (2, None, False),  # Mon 16 -> Wed = 2
        (5, 4, False),  # the supplier's own, longer window
        (None, None, True),
    ],
)
def test_supplier_silence_counts_business_days_against_the_window(days_ago, window, silent):
    assert is_silent(supplier(days_ago, window), now=NOW, calendar=CAL, policy=POLICY) is silent


@pytest.mark.parametrize(
    ("available", "waiting", "recent", "level"),
    [
        (20, 0, 3, None),
        (5, 0, 3, "watch"),
        (6, 0, 3, None),
        (2, 0, 1, "urgent"),
        (3, 0, 1, "watch"),
        (0, 0, 1, "paused"),
        (0, 4, 0, "paused"),
        (0, 20, 0, "owner_only"),
        (0, 19, 0, "paused"),
        (1, 0, 0, None),  # no demand: nothing to decide
    ],
)
def test_it_applies_the_stock_thresholds_when_there_is_demand(available, waiting, recent, level):
    assert stock_level(available=available, waiting_units=waiting, recent_units=recent, policy=POLICY) == level


def test_the_rules_spell_actions_categories_and_risks_as_the_models_do():
    assert {v for k, v in vars(f).items() if k.isupper() and isinstance(v, str) and v in Decision.Action.values} >= set(
        f.OWNER_ONLY_ACTIONS
    )
    assert set(Decision.OWNER_ONLY_ACTIONS) == set(f.OWNER_ONLY_ACTIONS)
    actions = [f.WAIT, f.SWITCH_SUPPLIER, f.OFFER_REPLACEMENT, f.CANCEL, f.REFUND, f.CHASE_SUPPLIER]
    actions += [f.PAUSE_PRODUCT, f.REQUEST_PROOF, f.MESSAGE_CUSTOMER, f.ESCALATE]
    assert set(actions) == set(Decision.Action.values)
    assert {str(k): v for k, v in Case.RISK_RANK.items()} == f.RISK_RANK
    categories = [v for k, v in vars(f).items() if k.isupper() and isinstance(v, str) and v in Case.Category.values]
    assert set(categories) == set(Case.Category.values)
    assert {f.STOCKOUT, f.BACKORDER, f.STALE_TRACKING} == set(Case.Kind.values)
