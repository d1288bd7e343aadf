"""What other apps ask to hear about stock, named by dotted path so this app never imports them.

``settings.AFTER_ALLOCATION`` lists functions called as ``fn(product, lines)`` inside the
transaction that gave ``lines`` (waiting order lines, with their new ``allocated`` and ``state``)
units of ``product``, once per product and allocation. They must not talk to the network: the
allocating transaction holds the product's row lock. Whatever they enqueue runs after commit.

``settings.AFTER_STOCK_CHANGE`` lists functions called as ``fn(product_ids)`` after a transaction
that locked products to change their stock has committed, when ``STOCK_SOURCE`` is ``desk``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string


def after_allocation(product, lines) -> None:
    if not lines:
        return
    for path in settings.AFTER_ALLOCATION:
        import_string(path)(product, lines)


def stock_may_change(product_ids) -> None:
    """Products locked to change their stock: once the transaction commits, the functions in
    ``settings.AFTER_STOCK_CHANGE`` hear their ids (``fn(product_ids)``), when the desk is the
    stock source. Nothing is heard of a transaction that rolls back."""
    if settings.STOCK_SOURCE != "desk" or not settings.AFTER_STOCK_CHANGE:
        return
    ids = sorted(set(product_ids))
    if ids:
        # robust: the stock change is committed whatever a listener does; a failure is logged, not raised
        transaction.on_commit(lambda: _after_stock_change(ids), robust=True)


def _after_stock_change(ids: list[int]) -> None:
    for path in settings.AFTER_STOCK_CHANGE:
        import_string(path)(ids)
