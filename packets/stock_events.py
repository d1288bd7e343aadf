"""What the decision side does when waiting lines get their units (``settings.AFTER_ALLOCATION``).

Inside the allocating transaction, in two queries whatever the number of lines: the
``stock.allocated`` event for subscribed automations, and a release of our own Shopify fulfilment
hold for each order whose held units are now all there (the store calls run after commit).
"""

from __future__ import annotations

from packets.integrations.outbound import emit, stock_payload

from .store_actions import release_holds_for


def after_allocation(product, lines) -> None:
    emit("stock.allocated", stock_payload(product, lines))
    release_holds_for({line.order_id for line in lines})
