"""The decision side: cases, their packets, what people decide, and what follows from it.

Rooms, by what flows through them:

* ``models/``: cases, packets, decisions, outcomes, messages, audit rows, outboxes.
* ``rules/``: pure functions of facts and policy (classification, risk, options, sentiment).
* ``sweep/``: facts -> cases and packets; the level-triggered reconcile (load, cases, parcels,
  desired, write, events).
* ``notify/``: customer and staff messages: cadence, drafting, guidelines, links, approval
  (``messaging``), senders and their tasks, delivery reports (``email_tracking``).
* ``store_actions/``: approved changes on the store (cancel, refund, hold, tag) through the
  Shopify and WooCommerce APIs.
* ``integrations/``: other tools: outbound events, Zendesk, the Connections page's checks.
* ``audit/``: refusal rows, packet PDFs, the timeline picture, exports and audit bundles.
* ``views/``: one module per page family (queue and case, customer page, exports, connections,
  review, store actions) and their forms. Views call verbs; verbs never import views.
* ``privacy/``: a customer's data exported or erased, wherever it was copied.
* ``seeding/``: the demo store and the scale store (fixtures, not product).

At the top, the verbs people call: ``decisions``, ``queue``, ``packet``, ``review``,
``supplier_followup``, ``stock_events``; and the plumbing Django and django-q2
look for: ``tasks``, ``schedules``, ``leases``, ``health``, ``urls``, ``admin``, ``signals``.
"""

from importlib import import_module

# Tasks queued (and schedules stored) before the rooms existed name their function by its old
# module. The old module is gone; only these task names still resolve through it, the way
# django-q2's worker looks a name up (``pydoc.locate``), so work waiting in the queue during an
# upgrade still runs. Any other name from an old module fails loudly.
STORED_TASKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "zendesk": ("packets.integrations.zendesk", ("open_ticket", "retry_due_tickets")),
    "outbound": ("packets.integrations.outbound", ("deliver", "retry_due_deliveries")),
    "tasks_export": ("packets.audit.tasks", ("render_bundle",)),
}


class StoredTaskNames:
    """The task functions of a module that moved, under its old name, and nothing else."""

    def __init__(self, old: str, new: str, names: tuple[str, ...]):
        self._old, self._new, self._names = old, new, names

    def __getattr__(self, name: str):
        if name not in self._names:
            raise AttributeError(f"{self._old} is now {self._new}; only its stored task names resolve here")
        return getattr(import_module(self._new), name)


def __getattr__(name: str):
    if name in STORED_TASKS:
        new, names = STORED_TASKS[name]
        return StoredTaskNames(f"{__name__}.{name}", new, names)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
