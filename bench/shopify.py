"""Shopify-shaped inputs for the benchmarks: signed ``orders/create`` deliveries and an orders export CSV.

Orders name the scale store's products (``packets.seeding.scale``) by SKU and variant id, so intake finds
them as it would in a live store.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
from datetime import UTC, datetime, timedelta

from backorders.intake.csv_orders import SHOPIFY_ORDER_COLUMNS
from bench import SHOPIFY_SECRET
from packets.seeding.scale import CITIES, FIRST, LAST, product_sku, variant_id

SECRET = SHOPIFY_SECRET
ORDER_ID_BASE = 8_100_000_000_000


def order_payload(n: int, products: int, *, now: datetime) -> dict:
    """One ``orders/create`` payload in Shopify's REST shape, two line items."""
    created = (now - timedelta(minutes=n)).astimezone(UTC)
    first, last = FIRST[n % len(FIRST)], LAST[n % len(LAST)]
    city, region, postal = CITIES[n % len(CITIES)]
    items = []
    for k in range(2):
        product = 1 + (n * 7 + k * 13) % products
        items.append(
            {
                "id": ORDER_ID_BASE * 10 + n * 2 + k,
                "admin_graphql_api_id": f"gid://shopify/LineItem/{ORDER_ID_BASE * 10 + n * 2 + k}",
                "current_quantity": 1,
                "fulfillable_quantity": 1,
                "fulfillment_service": "manual",
                "fulfillment_status": None,
                "gift_card": False,
                "grams": 400,
                "name": f"Scale item {product // 3} - Medium",
                "price": "40.00",
                "price_set": {
                    "shop_money": {"amount": "40.00", "currency_code": "USD"},
                    "presentment_money": {"amount": "40.00", "currency_code": "USD"},
                },
                "product_exists": True,
                "product_id": 9_000_000_000 + product // 3,
                "properties": [],
                "quantity": 1,
                "requires_shipping": True,
                "sku": product_sku(product),
                "taxable": True,
                "title": f"Scale item {product // 3}",
                "total_discount": "0.00",
                "variant_id": int(variant_id(product)),
                "variant_inventory_management": "shopify",
                "variant_title": "Medium",
                "vendor": "Scale Supplier",
                "tax_lines": [{"price": "3.20", "rate": 0.04, "title": "State tax"}],
                "discount_allocations": [],
                "duties": [],
            }
        )
    stamp = created.isoformat().replace("+00:00", "Z")
    address = {
        "first_name": first,
        "last_name": last,
        "name": f"{first} {last}",
        "address1": f"{100 + n % 900} Main Street",
        "city": city,
        "province": region,
        "province_code": region,
        "zip": postal,
        "country": "United States",
        "country_code": "US",
        "phone": None,
    }
    return {
        "id": ORDER_ID_BASE + n,
        "admin_graphql_api_id": f"gid://shopify/Order/{ORDER_ID_BASE + n}",
        "name": f"#B{n}",
        "order_number": 100_000 + n,
        "email": f"bench{n % 5000}@example.com",
        "contact_email": f"bench{n % 5000}@example.com",
        "created_at": stamp,
        "updated_at": stamp,
        "processed_at": stamp,
        "closed_at": None,
        "cancelled_at": None,
        "cancel_reason": None,
        "confirmed": True,
        "currency": "USD",
        "presentment_currency": "USD",
        "financial_status": "paid",
        "fulfillment_status": None,
        "subtotal_price": "80.00",
        "current_subtotal_price": "80.00",
        "total_price": "89.35",
        "current_total_price": "89.35",
        "total_tax": "3.20",
        "total_discounts": "0.00",
        "taxes_included": False,
        "test": False,
        "tags": "",
        "note": None,
        "note_attributes": [],
        "source_name": "web",
        "customer": {
            "id": 7_000_000_000 + n % 5000,
            "email": f"bench{n % 5000}@example.com",
            "first_name": first,
            "last_name": last,
            "orders_count": n % 6,
            "phone": None,
            "state": "enabled",
            "verified_email": True,
            "tags": "",
        },
        "billing_address": address,
        "shipping_address": address,
        "shipping_lines": [{"code": "Standard", "price": "6.15", "source": "shopify", "title": "Standard"}],
        "line_items": items,
        "fulfillments": [],
        "refunds": [],
        "discount_codes": [],
        "payment_gateway_names": ["shopify_payments"],
    }


def edited_payload(n: int, products: int, *, now: datetime, edited_at: datetime) -> dict:
    """An ``orders/updated`` payload for order ``n`` as ``order_payload`` made it, edited at ``edited_at``:
    a new shipping address, a note and a tag; every fourth edit also raises its first line to two units."""
    payload = order_payload(n, products, now=now)
    stamp = edited_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    payload["updated_at"] = stamp
    payload["note"] = "Please send it to my office instead."
    payload["tags"] = "address-changed"
    address = dict(payload["shipping_address"], address1=f"{200 + n % 700} Office Park", zip="10001")
    payload["shipping_address"] = address
    if n % 4 == 0:
        item = payload["line_items"][0]
        item.update(quantity=2, current_quantity=2, fulfillable_quantity=2)
        for key in ("subtotal_price", "current_subtotal_price"):
            payload[key] = "120.00"
        for key in ("total_price", "current_total_price"):
            payload[key] = "131.75"
    return payload


def signed_delivery(
    n: int, products: int, *, now: datetime, payload: dict | None = None, topic: str = "orders/create"
) -> tuple[bytes, dict[str, str]]:
    """The compact JSON body Shopify sends and its headers, signed with ``SECRET``."""
    body = json.dumps(payload or order_payload(n, products, now=now), separators=(",", ":")).encode()
    signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    return body, {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": signature,
        "X-Shopify-Shop-Domain": "backorder-desk-bench.myshopify.com",
        "X-Shopify-API-Version": "2026-01",
        "X-Shopify-Webhook-Id": f"bench-{now:%Y%m%d%H%M%S}-{topic}-{n}",
        "X-Shopify-Triggered-At": now.isoformat(),
    }


def orders_csv(rows: int, products: int, *, now: datetime, open_every: int = 50) -> tuple[bytes, list[dict]]:
    """An orders export of ``rows`` line rows, two per order; one order in ``open_every`` is unfulfilled.

    Returns the file and, per order, the facts a raw COPY of the same rows stores.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(SHOPIFY_ORDER_COLUMNS)
    orders = []
    stamp = now.strftime("%Y%m%d%H%M%S")
    for n in range((rows + 1) // 2):
        name = f"#C{stamp}-{n}"
        created = now - timedelta(days=30 + n % 300, minutes=n % 1440)
        fulfilled = n % open_every != 0
        customer = n % 20000  # a customer keeps their name from one order to the next
        first, last = FIRST[customer % len(FIRST)], LAST[customer % len(LAST)]
        city, region, postal = CITIES[n % len(CITIES)]
        lines = []
        for k in range(2 if 2 * n + 1 < rows else 1):
            product = 1 + (n * 11 + k * 17) % products
            quantity = 1 + (n + k) % 3
            row = dict.fromkeys(SHOPIFY_ORDER_COLUMNS, "")
            row.update(
                {
                    "Name": name,
                    "Lineitem quantity": str(quantity),
                    "Lineitem name": f"Scale item {product // 3} - Medium",
                    "Lineitem price": "40.00",
                    "Lineitem sku": product_sku(product),
                    "Lineitem requires shipping": "true",
                    "Lineitem taxable": "true",
                    "Lineitem fulfillment status": "fulfilled" if fulfilled else "pending",
                    "Vendor": "Scale Supplier",
                }
            )
            if k == 0:
                row.update(
                    {
                        "Email": f"csv{customer}@example.com",
                        "Financial Status": "paid",
                        "Paid at": created.strftime("%Y-%m-%d %H:%M:%S %z"),
                        "Fulfillment Status": "fulfilled" if fulfilled else "unfulfilled",
                        "Currency": "USD",
                        "Subtotal": "80.00",
                        "Shipping": "6.15",
                        "Taxes": "3.20",
                        "Total": "89.35",
                        "Shipping Method": "Standard",
                        "Created at": created.strftime("%Y-%m-%d %H:%M:%S %z"),
                        "Billing Name": f"{first} {last}",
                        "Shipping Name": f"{first} {last}",
                        "Shipping City": city,
                        "Shipping Zip": postal,
                        "Shipping Province": region,
                        "Shipping Country": "US",
                        "Payment Method": "Shopify Payments",
                        "Id": str(5_500_000_000_000 + n),
                        "Source": "web",
                    }
                )
            writer.writerow([row[c] for c in SHOPIFY_ORDER_COLUMNS])
            lines.append((product, quantity, fulfilled))
        orders.append({"name": name, "placed_at": created, "fulfilled": fulfilled, "lines": lines})
    return out.getvalue().encode(), orders
