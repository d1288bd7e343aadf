"""The store-actions panel's data, read in a fixed number of queries whatever the row count."""

from __future__ import annotations

import json

from django import template

from packets.models import Decision, StoreAction
from packets.store_actions import preview

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
    previews = [(d, lines) for d in proposed if (lines := preview(d, case))]
    return {
        "actions": actions,
        "previews": previews,
        "running": any(not a.is_finished for a in actions),
    }


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)
