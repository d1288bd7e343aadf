"""The store-actions panel's data, read in a fixed number of queries whatever the row count."""

from __future__ import annotations

import json

from django import template
from django.db.models import prefetch_related_objects

from backorders.models import StorePolicy
from packets.models import Decision, StoreAction
from packets.store_actions import preview
from packets.store_actions.preview import latest_outgoing_customer_message_at

register = template.Library()

PREVIEWED = {
    Decision.Action.CANCEL,
    Decision.Action.REFUND,
    Decision.Action.WAIT,
    Decision.Action.SWITCH_SUPPLIER,
    Decision.Action.CHASE_SUPPLIER,
    Decision.Action.PAUSE_PRODUCT,
}


@register.simple_tag
def store_action_panel(case) -> dict:
    """Actions with their preview lines, and what approving each proposed decision would send."""
    actions = list(StoreAction.objects.for_panel().filter(case=case))
    by_id = {action.pk: action for action in actions}
    for action in actions:
        action.preview_line = preview(action)[0]
        # what a pending action still waits on (always an action of the same decision, so loaded)
        action.waits_for = action.waiting_on(by_id.get(action.after_id))
    proposed = [
        d
        for d in case.decisions.filter(status=Decision.Status.PROPOSED).order_by("decided_at")
        if d.action in PREVIEWED
    ]
    previews = []
    if proposed:
        # read once what every preview needs: the policy, the order's lines, our newest message
        policy = StorePolicy.objects.current()
        if case.order is not None:
            prefetch_related_objects([case.order], "lines")
            case.outgoing_customer_message_at = latest_outgoing_customer_message_at(case)
        previews = [(d, lines) for d in proposed if (lines := preview(d, case, policy=policy))]
    return {
        "actions": actions,
        "previews": previews,
        # poll while something can still change; an action held by a failed one cannot by itself
        "running": any(
            not a.is_finished and not (a.waits_for and a.waits_for.status == StoreAction.Status.FAILED) for a in actions
        ),
    }


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)
