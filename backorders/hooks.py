"""What other apps ask to hear about stock, named by dotted path so this app never imports them.

``settings.AFTER_ALLOCATION`` lists functions called as ``fn(product, lines)`` inside the
transaction that gave ``lines`` (waiting order lines, with their new ``allocated`` and ``state``)
units of ``product``, once per product and allocation. They must not talk to the network: the
allocating transaction holds the product's row lock. Whatever they enqueue runs after commit.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string


def after_allocation(product, lines) -> None:
    if not lines:
        return
    for path in settings.AFTER_ALLOCATION:
        import_string(path)(product, lines)
