"""The packet's content: the contract's sections, a hash that ignores the clock, and a readable diff."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.serializers.json import DjangoJSONEncoder

from packets.models import Packet
from packets.packet import SECTIONS, PacketText, assemble, content_hash, diff, stable_view
from tests import factories


def content(**changes) -> dict:
    base = assemble(
        summary="Order #1001 waits on 1 unit of KETTLE-2L.",
        case={
            "kind": "backorder",
            "category": "restock_delay",
            "category_label": "Restock delay",
            "title": "t",
            "opened_at": "2026-11-18T15:00:00+00:00",
        },
        product={
            "sku": "KETTLE-2L",
            "available": 0,
            "waiting_orders": 3,
            "waiting_units": 4,
            "on_hand": 0,
            "allocated": 0,
            "title": "Kettle",
            "status": "active",
            "product_page_wording": "",
        },
        supplier={"name": "Copperline", "silence_business_days": 2, "conflicts": []},
        tracking={"carrier": "UPS", "tracking_age_days": 4, "business_days_since_last_scan": 3, "gaps": []},
        risk_level="normal_watch",
        recommendation={"action": "wait", "reason": "Because."},
        evidence={"strength": "weak", "uncertainty": ["The estimate is weak."]},
    )
    for path, value in changes.items():
        section, _, field = path.partition("__")
        if field:
            base[section][field] = value
        else:
            base[section] = value
    return base


def test_it_has_exactly_the_contracts_sections_and_null_for_absent_ones():
    packet = content()
    assert tuple(packet) == SECTIONS
    assert packet["order"] is None and packet["options"] == []
    with pytest.raises(ValueError, match="Not packet sections"):
        assemble(facts={})


@pytest.mark.parametrize(
    "change",
    [
        {"tracking__tracking_age_days": 5},
        {"tracking__business_days_since_last_scan": 4},
        {"supplier__silence_business_days": 3},
        {"product__waiting_orders": 9},  # another customer's order: context on an order case
        {"product__available": 2},
    ],
)
def test_the_hash_ignores_counters_that_tick_with_the_clock(change):
    assert content_hash(content(**change)) == content_hash(content())
    assert diff(content(), content(**change)) == []


def test_on_a_product_case_the_stock_counters_are_the_facts():
    product_case = {"case__kind": "stockout"}
    assert content_hash(content(**product_case, product__waiting_orders=9)) != content_hash(content(**product_case))


def test_the_diff_names_section_field_before_and_after():
    before = content()
    after = content(
        case__category="supplier_out_of_stock", risk_level="customer_update", evidence__strength="confirmed"
    )
    assert diff(before, after) == [
        {"section": "case", "field": "category", "before": "restock_delay", "after": "supplier_out_of_stock"},
        {"section": "risk_level", "field": None, "before": "normal_watch", "after": "customer_update"},
        {"section": "evidence", "field": "strength", "before": "weak", "after": "confirmed"},
    ]
    assert diff(None, after) == []


def test_a_packet_is_never_edited(db):
    packet = factories.PacketFactory(content=content(), facts_sha256=content_hash(content()))
    packet.recommendation = "refund"
    with pytest.raises(PermissionError):
        packet.save()
    assert Packet.objects.get(pk=packet.pk).recommendation == "wait"


def test_packet_text_is_byte_for_byte_the_hash_text_of_the_content_and_of_its_stable_view():
    """The sweep hashes and copies the texts ``PacketText`` joins from per-section pieces: they must
    be exactly what ``Packet.hash_content`` encodes, or every stored hash would stop matching."""
    shared_policy = {"version": 3, "rules": {"stock": "Wait 5 days", "ümlaut": "Größe €"}, "applied": ["stock"]}
    shared_supplier = {"name": "Copperline", "silence_business_days": 2, "conflicts": [], "lead": Decimal("1.50")}
    packets = [
        content(policy=shared_policy, supplier=shared_supplier),
        content(
            policy=shared_policy,
            supplier=shared_supplier,
            order={"total": Decimal("12.30"), "placed": date(2026, 11, 2)},
        ),
        content(policy=shared_policy, supplier=shared_supplier, case__kind="stockout", product__waiting_orders=9),
        content(options=[{"action": "wait", "cost": Decimal("0")}], tracking=None, summary='Quote "this" \\ é'),
        content(case__opened_at=datetime(2026, 11, 18, 15, tzinfo=UTC), policy=shared_policy),
    ]
    text = PacketText()
    for packet in packets * 2:  # the second round meets every section again
        whole, stable = text.encode(packet)
        assert whole == canonical(packet)
        assert stable == canonical(stable_view(packet))
        assert hashlib.sha256(whole.encode()).hexdigest() == Packet.hash_content(packet)
        assert hashlib.sha256(stable.encode()).hexdigest() == content_hash(packet)


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
