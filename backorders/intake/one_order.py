"""One order, wherever it came from: a Shopify webhook adopts the order a CSV import made for it.

Shopify's orders export (``csv_orders``) keeps an order on the CSV channel under its ``Name``
(``#1042``), without Shopify's ids. When a Shopify webhook later delivers that order, the order
kept from the CSV becomes the Shopify order: its channel and external id are the webhook's, its
lines take the webhook's line ids (matched by SKU, then by product, in order), and a product the
CSV made for an unknown SKU takes the variant id. The rows stay the same rows, so allocations,
cases and messages that point at them are not duplicated. The other way round, a CSV naming an
order a webhook already delivered leaves it as it is (``csv_orders``).

The database holds the rule as well: ``order_unique_shopify_number`` allows one order per number
across the CSV and Shopify channels, so two writers that arrive at once cannot both insert.
"""

from __future__ import annotations

from django.db.models import Q

from ..models import Channel, Order, OrderLine, Product

MERGES_INTO = {Channel.SHOPIFY: Channel.CSV}  # the channel whose orders a webhook of this channel adopts


def named_by_csv(channel: str, number: str) -> Q | None:
    """The lines of the CSV order a webhook of ``channel`` for ``number`` would adopt (a filter on OrderLine)."""
    if channel not in MERGES_INTO or not number:
        return None
    return Q(order__channel=MERGES_INTO[channel], order__number=number)


def adopt(facts) -> Order | None:
    """The CSV order with the webhook's number, locked and made the webhook's order; None when there is none.

    The caller holds the locks of the products the facts and the CSV order's lines name.
    """
    source = MERGES_INTO.get(facts.channel)
    if source is None or not facts.number:
        return None
    order = Order.objects.select_for_update(no_key=True).filter(channel=source, number=facts.number).first()
    if order is None:
        return None
    order.channel, order.external_id = facts.channel, facts.external_id
    order.save(update_fields=["channel", "external_id", "updated_at"])
    _take_line_ids(order, facts.lines)
    return order


def _take_line_ids(order: Order, lines) -> None:
    """Give the CSV lines the webhook's line ids: by SKU first, then by product, each line once."""
    kept = list(order.lines.select_for_update(no_key=True).select_related("product").order_by("pk"))
    by_variant = {
        p.shopify_variant_id: p
        for p in Product.objects.filter(shopify_variant_id__in=[lf.shopify_variant_id for lf in lines if lf])
        if p.shopify_variant_id
    }
    free = list(kept)
    matched: list[tuple[OrderLine, object]] = []
    for rule in ("sku", "product"):
        for lf in lines:
            if any(lf is m for _, m in matched):
                continue
            for line in free:
                if rule == "sku" and lf.sku and line.sku == lf.sku:
                    break
                product = by_variant.get(lf.shopify_variant_id)
                if rule == "product" and product is not None and line.product_id == product.pk:
                    break
            else:
                continue
            free.remove(line)
            matched.append((line, lf))
    for line, lf in matched:
        line.external_id = lf.external_id[:64]
        _fill_variant(line.product, lf)
    # ids not taken by a match step aside, so the webhook's own lines cannot collide with them
    for line in free:
        line.external_id = f"csv-{line.pk}"[:64]
    OrderLine.objects.bulk_update([line for line, _ in matched] + free, ["external_id"])


def _fill_variant(product: Product, lf) -> None:
    """A product the CSV knew only by SKU learns its Shopify variant id, when no other product holds it."""
    if product.shopify_variant_id or not lf.shopify_variant_id:
        return
    if Product.objects.filter(shopify_variant_id=lf.shopify_variant_id).exists():
        return
    product.shopify_variant_id = lf.shopify_variant_id
    product.save(update_fields=["shopify_variant_id", "updated_at"])
