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
}


@register.simple_tag
def store_action_panel(case) -> dict:
    """Actions with their preview lines, and what approving each proposed decision would send."""
    actions = list(StoreAction.objects.for_panel().filter(case=case))
    for action in actions:
        action.preview_line = preview(action)[0]
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
        "running": any(not a.is_finished for a in actions),
    }


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)
