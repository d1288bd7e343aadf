"""Options read as sentences with the currency, not as bare "178.00 / -106.00"."""

from __future__ import annotations

import pytest
from django.urls import reverse

from packets.rules.option_words import option_sentences
from tests.packets.packet_content import case_with_packet, contract_content, option


def test_a_refund_says_what_goes_back_and_what_margin_is_given_up():
    refund = option("refund", "Refund the order", cost="178.00", margin_impact="-106.00")
    assert option_sentences(refund, "USD") == [
        "Refund $178.00 to the customer.",
        "You give up $106.00 of margin on this order.",
    ]


def test_a_replacement_says_its_cost_its_margin_and_its_timing_in_the_order_currency():
    replacement = option(
        "offer_replacement", "Offer the blue mug", cost="0.00", margin_impact="0", shipping_days_difference=-10
    )
    assert option_sentences(replacement, "EUR") == [
        "It costs the store nothing extra.",
        "Your margin on this order is unchanged.",
        "The customer gets it about 10 days sooner than by waiting.",
    ]
    switch = option("switch_supplier", "Backup", cost="12.5", margin_impact="-12.5", shipping_days_difference=1)
    assert option_sentences(switch, "JPY") == [
        "It costs the store ¥13.",
        "You give up ¥13 of margin on this order.",
        "The customer gets it about 1 day later than by waiting.",
    ]


def test_an_option_without_money_or_timing_says_nothing_it_does_not_know():
    assert option_sentences(option("wait", "Wait"), "USD") == []


@pytest.mark.django_db
def test_the_case_page_shows_the_sentences(owner_client):
    case, _ = case_with_packet(contract_content())
    html = owner_client.get(reverse("packets:case-detail", args=[case.pk])).content.decode()
    assert "Refund $48.00 to the customer. You give up $29.00 of margin on this order." in html
    assert "-29.00" not in html
