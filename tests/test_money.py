"""Money is shown by one formatter, by currency (Babel): JPY has no decimals, KWD three, USD two."""

from decimal import Decimal

import pytest

from backorders.formats.money import format_money
from packets.models import Decision
from packets.store_actions import preview
from tests.packets.contract_content import pdf_text
from tests.packets.packet_content import case_with_packet, contract_content
from tests.packets.store_fakes import backorder_case, decision_for


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (Decimal("1234.5"), "USD", "$1,234.50"),
        (Decimal("1234.5"), "JPY", "¥1,235"),
        (Decimal("84"), "jpy", "¥84"),
        (Decimal("12.3456"), "KWD", "KWD12.346"),
        (Decimal("9.99"), "EUR", "€9.99"),
        (Decimal("12.5"), "CAD", "CA$12.50"),
        (Decimal("-84.2"), "USD", "-$84.20"),
        ("0.005", "USD", "$0.01"),  # half-up, as a till rounds (not to the even cent)
        ("2.5", "JPY", "¥3"),
    ],
)
def test_it_shows_each_currency_with_its_own_places_and_symbol(amount, currency, shown):
    assert format_money(amount, currency) == shown


def test_it_takes_the_store_currency_and_locale_from_settings(settings):
    settings.STORE_CURRENCY, settings.MONEY_LOCALE = "JPY", "ja_JP"
    assert format_money(Decimal("1500")) == "￥1,500"
    settings.STORE_CURRENCY, settings.MONEY_LOCALE = "EUR", "de_DE"
    assert format_money(Decimal("1234.5")) == "1.234,50\xa0€"


def test_it_refuses_floats_and_what_is_not_an_amount():
    with pytest.raises(TypeError):
        format_money(0.1 + 0.2, "USD")
    for bad in ("abc", "NaN", "Infinity"):
        with pytest.raises(ValueError):
            format_money(bad, "USD")


@pytest.mark.django_db
def test_the_store_action_preview_shows_a_yen_refund_without_decimals(owner):
    case = backorder_case(currency="JPY")
    assert preview(decision_for(case, Decision.Action.REFUND, owner)) == [
        "Will refund ¥40 on order #1042 on Shopify for 2 × Blue Mug (unfulfilled units, not restocked) "
        "to the original payment."
    ]


@pytest.mark.django_db
def test_the_packet_page_and_pdf_show_the_order_value_and_line_prices_in_the_orders_currency(owner_client):
    content = contract_content()
    content["order"].update(value="12345.6", currency="JPY")
    for line in content["order"]["lines"]:
        line["unit_price"] = "1200"
    case, _ = case_with_packet(content)

    body = owner_client.get(f"/cases/{case.pk}/").content.decode()

    assert "¥12,346" in body and "¥1,200" in body
    assert "12,345.60" not in body and "1,200.00" not in body
    pdf = owner_client.get(f"/cases/{case.pk}/packet.pdf")
    text = pdf_text(b"".join(pdf.streaming_content) if pdf.streaming else pdf.content)
    assert "¥12,346" in text and "¥1,200" in text and "12345.6" not in text
