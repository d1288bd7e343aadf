"""What the deliveries of one batch share inside its transaction (``batches.apply_batch``).

- The products the batch locked at its start: a delivery does not lock them again (row locks
  taken outside the deliveries' savepoints hold until the batch commits).
- New order lines whose stock is reserved together (``reserve_later``), in a fixed number of
  statements, as an import does: before any delivery that could read or move allocated stock
  (anything but a new order), and at the end of the batch. Lines are served in the order they
  were written (order id, then line id), as one delivery after another would serve them.
- The catalog products the batch's line items name, read once at its start (``catalog``): a
  line matched there is not looked up again; one not found there is looked up as before. The
  copy is dropped before a delivery that could change a product's SKU or channel ids.
- Savepoints: each delivery already runs in one, so the adapters' own nested blocks join it
  (``atomic``) instead of opening more.

Outside a batch nothing is shared: ``current()`` is None and every call behaves as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.db import transaction

from ..allocation import reserve_lines
from ..models import OrderLine, Product


@dataclass
class BatchState:
    locked_products: frozenset[int] = frozenset()
    later: dict[int, int] = field(default_factory=dict)  # line id -> product id, reservation deferred
    catalog: list[Product] | None = None  # in the catalog's order; None: not kept (look up each time)


_current: ContextVar[BatchState | None] = ContextVar("intake_batch_state", default=None)


def current() -> BatchState | None:
    return _current.get()


@contextmanager
def sharing(locked_products: Iterable[int], catalog: list[Product] | None = None) -> Iterator[BatchState]:
    """Within this block the deliveries of one batch share its state."""
    state = BatchState(locked_products=frozenset(locked_products), catalog=catalog)
    token = _current.set(state)
    try:
        yield state
    finally:
        _current.reset(token)


def atomic():
    """A nested block: inside a batch the delivery's savepoint serves (an error still fails only it)."""
    return transaction.atomic(savepoint=current() is None)


def reserve_later(lines: list[OrderLine]) -> bool:
    """Inside a batch, note new lines to be reserved with the batch's others; False outside a batch."""
    state = current()
    if state is None:
        return False
    state.later.update((line.pk, line.product_id) for line in lines)
    return True


def reserve_now(*, settled: bool = True) -> None:
    """Reserve the deferred lines now (the ones already served are left alone: they are no longer pending).

    ``settled``: called outside any delivery's savepoint, so the reservation cannot be rolled back
    with a delivery and the lines are forgotten; inside one they are kept for the batch's end.
    """
    state = current()
    if state is None or not state.later:
        return
    reserve_lines(list(state.later), set(state.later.values()))
    if settled:
        state.later.clear()


def kept_catalog() -> list[Product] | None:
    state = current()
    return state.catalog if state is not None else None


def forget_catalog() -> None:
    """A product's SKU or channel ids may change next: look products up again from now on."""
    state = current()
    if state is not None:
        state.catalog = None
