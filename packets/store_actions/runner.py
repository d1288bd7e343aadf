"""The django-q2 task that runs one store action, exactly once in effect.

``run_store_action(action_id)`` claims the row with a conditional UPDATE (pending or needs_check
-> running), so of two workers, or two enqueues after two approve clicks, only one calls the
store. The call happens outside any transaction; its outcome is written afterwards through
``StoreAction.set_status`` (with an audit row on the case):

* succeeded, with the store's id for what it made;
* failed, with the platform's own message (user errors, a refused call, a gateway that cannot
  refund);
* pending again with ``next_attempt_at`` when the store throttled us or could not be reached
  (nothing ran);
* needs_check when the call went out and no answer came back (a timeout, a 5xx, a cancel job
  still running). Whatever runs next reads the order back first and only sends when the store
  shows no trace of the action.

A worker killed mid-call leaves the row ``running``. When django-q2 delivers the task again
(after ``Q_CLUSTER['retry']`` seconds) and the run began longer ago than the queue's timeout, this
worker takes the row over and reads the store back before anything else. Every attempt after
the first reads back, too. ``retry_due_actions`` (scheduled each minute) hands due rows, and rows
whose task was lost, back to the queue.

An action that waits on another (``StoreAction.after``: a refund that belongs to a cancel) is
claimed only once that one succeeded, in the same conditional UPDATE, so no worker, retry or
redelivery sends it earlier. The success enqueues it; a failure leaves it pending, said on the
case, and never sent.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from ..leases import hand_back_due
from ..models import AuditEvent, StoreAction
from . import bigcommerce, results, shopify, shopify_products, woocommerce, woocommerce_products
from .results import CallResult

logger = logging.getLogger(__name__)

RUN_TASK = "packets.store_actions.runner.run_store_action"
Status = StoreAction.Status
ADAPTERS = {
    StoreAction.Platform.SHOPIFY: shopify,
    StoreAction.Platform.WOOCOMMERCE: woocommerce,
    StoreAction.Platform.BIGCOMMERCE: bigcommerce,
}
PRODUCT_ADAPTERS = {
    StoreAction.Platform.SHOPIFY: shopify_products,
    StoreAction.Platform.WOOCOMMERCE: woocommerce_products,
}


def adapter_for(action: StoreAction):
    """The module that calls the store for this action: orders or products, per platform."""
    table = PRODUCT_ADAPTERS if action.kind in StoreAction.PRODUCT_KINDS else ADAPTERS
    return table[action.platform]


def enqueue(action_id: int) -> None:
    """Hand one action to the worker. Call it from ``transaction.on_commit``."""
    from backorders.queueing import enqueue_stored

    # a broker outage leaves it pending: store_actions.retry hands it over once the broker is back
    enqueue_stored(RUN_TASK, action_id, task_name=f"store-action-{action_id}", what=f"store action {action_id}")


def backoff_seconds(attempts: int) -> float:
    return float(min(settings.STORE_ACTION_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1), 3600))


def run_store_action(action_id: int) -> str:
    """Run one approved store action. Returns what happened, in words (the queue stores it)."""
    claimed = _claim(action_id)
    if isinstance(claimed, str):
        logger.info("Store action %s not run: %s", action_id, claimed)
        return claimed
    action, check_first = claimed
    adapter = adapter_for(action)
    action.before_send = lambda request: StoreAction.objects.filter(pk=action.pk, status=Status.RUNNING).update(
        request=request
    )
    try:
        if check_first:
            found = adapter.read_back(action)
            if found.outcome != results.NOT_DONE:
                if found.outcome == results.RETRY:
                    found.outcome = results.UNKNOWN  # still unknown: never send blind
                return _record(action, found, read_back=True)
        result = adapter.execute(action)
    except Exception as exc:
        # A fault of ours, perhaps after the call went out: park the row so the store is read
        # back before anything is sent again, then let the queue record the exception.
        _record(action, CallResult(results.UNKNOWN, error=f"Unexpected error ({exc.__class__.__name__}: {exc})"))
        raise
    return _record(action, result)


def _claim(action_id: int) -> tuple[StoreAction, bool] | str:
    """The action, now ``running`` and ours, and whether to read the store back first; or why not."""
    now = timezone.now()
    prior = None
    for status in (Status.PENDING, Status.NEEDS_CHECK):
        if StoreAction.objects.filter(StoreAction.unblocked(), pk=action_id, status=status).update(
            status=Status.RUNNING, started_at=now, attempts=F("attempts") + 1, next_attempt_at=None
        ):
            prior = status
            break
    action = StoreAction.objects.select_related("case", "order", "decision", "product").filter(pk=action_id).first()
    if action is None:
        return "no such store action"
    if prior is None:
        waits = action.waiting_on()
        if waits is not None:
            return f"waiting: {waits.get_kind_display().lower()} is {waits.get_status_display().lower()}"
        if action.status != Status.RUNNING:
            return f"nothing to do: the action is {action.status}"
        started = action.started_at
        if started > now - timedelta(seconds=int(settings.Q_CLUSTER["timeout"])):
            return "another worker is running it now"
        took = StoreAction.objects.filter(pk=action_id, status=Status.RUNNING, started_at=started).update(
            started_at=now, attempts=F("attempts") + 1
        )
        if not took:
            return "another worker took it over"
        action.refresh_from_db()
        AuditEvent.record(
            "store_action.redelivered",
            case=action.case,
            obj=action,
            summary=(
                f"{action.get_kind_display()} was still running since {started:%Y-%m-%d %H:%M} UTC: the worker "
                f"stopped mid-call. Reading the store back before anything is sent again."
            ),
            started=started,
        )
        return action, True
    AuditEvent.record(
        "store_action.running",
        case=action.case,
        obj=action,
        summary=f"{action.get_kind_display()} on {action.get_platform_display()}: {prior} → running "
        f"(attempt {action.attempts})",
        old=prior,
    )
    check_first = prior == Status.NEEDS_CHECK or action.attempts > 1 or bool(action.previous_keys)
    return action, check_first


def _record(action: StoreAction, result: CallResult, *, read_back: bool = False) -> str:
    from packets.integrations.outbound import emit

    with transaction.atomic():
        locked = (
            StoreAction.objects.select_for_update(of=("self",))
            .select_related("case", "order", "product")
            .get(pk=action.pk)
        )
        if locked.status != Status.RUNNING or locked.started_at != action.started_at:
            AuditEvent.record(
                "store_action.late_result",
                case=locked.case,
                obj=locked,
                summary=f"A result came back after another worker took the action over: {result.outcome}",
                outcome=result.outcome,
                error=result.error,
            )
            return f"late result ignored: {result.outcome}"
        fields = {"error": result.error[:4000], "finished_at": timezone.now()}
        if result.request:
            fields["request"] = result.request
        if result.response is not None:
            fields["response"] = result.response if isinstance(result.response, dict) else {"body": result.response}
        if result.external_ref:
            fields["external_ref"] = result.external_ref[:255]
        if result.gateway_cannot_refund:
            fields["gateway_cannot_refund"] = True
        label = f"{locked.get_kind_display()} on {locked.get_platform_display()}"
        outcome = result.outcome
        if outcome in {results.RETRY, results.UNKNOWN} and locked.attempts >= settings.STORE_ACTION_MAX_ATTEMPTS:
            unknown = " The outcome of the last call is not known: check the order in the store." * (
                outcome == results.UNKNOWN
            )
            fields["error"] = f"Gave up after {locked.attempts} attempts. Last: {result.error}.{unknown}"[:4000]
            outcome = results.FAILED
        if outcome == results.SUCCEEDED:
            note = f" ({result.note})" if result.note else ""
            locked.set_status(Status.SUCCEEDED, reason=f"{label}: done{note}"[:500], **fields)
            emit("store_action.succeeded", action_payload(locked), case=locked.case)
            waiting = list(locked.dependents.filter(status=Status.PENDING).values_list("pk", flat=True))
            transaction.on_commit(lambda: [enqueue(pk) for pk in waiting])
            if locked.kind == StoreAction.Kind.HOLD:
                from . import release_holds

                release_holds(locked.order_id)  # the units arrived while the hold was on its way
        elif outcome == results.FAILED:
            locked.set_status(Status.FAILED, reason=f"{label} failed: {fields['error']}"[:500], **fields)
            emit("store_action.failed", action_payload(locked), case=locked.case)
            _hold_dependents(locked, label)
        else:
            delay = max(backoff_seconds(locked.attempts), result.retry_after or 0.0)
            when = timezone.now() + timedelta(seconds=delay)
            fields["next_attempt_at"] = when
            new = Status.PENDING if outcome == results.RETRY else Status.NEEDS_CHECK
            why = "nothing ran" if new == Status.PENDING else "the store will be read back first"
            locked.set_status(
                new,
                reason=f"{label}: {result.error} ({why}; next try after {when:%H:%M:%S} UTC)"[:500],
                **fields,
            )
        return f"{locked.status}{' after reading the store back' if read_back else ''}"


def _hold_dependents(failed: StoreAction, label: str) -> None:
    """Say on the case that what waits on a failed action is not sent (it stays pending)."""
    for waiting in failed.dependents.filter(status=Status.PENDING):
        AuditEvent.record(
            "store_action.held",
            case=failed.case,
            obj=waiting,
            summary=f"{waiting.get_kind_display()} not sent: {label} failed. It waits, and goes out only if "
            f"the {failed.get_kind_display().lower()} is run again and succeeds."[:500],
            after=failed.pk,
        )


def action_payload(action: StoreAction) -> dict:
    """The ``store_action.*`` event body (docs/events/store_action.succeeded.json)."""
    order, product = action.order, action.product
    return {
        "id": action.pk,
        "case_id": action.case_id,
        "decision_id": action.decision_id,
        "platform": action.platform,
        "kind": action.kind,
        "status": action.status,
        "amount": str(action.amount) if action.amount is not None else None,
        "currency": order.currency if order is not None else None,
        "order": (
            {"id": order.pk, "number": order.number, "channel": order.channel, "external_id": order.external_id}
            if order is not None
            else None
        ),
        "product": {"id": product.pk, "sku": product.sku, "target": action.target} if product is not None else None,
        "external_ref": action.external_ref,
        "error": action.error,
        "attempts": action.attempts,
    }


def retry_due_actions(limit: int = 200) -> int:
    """Scheduled: enqueue actions whose wait has passed and actions whose task was lost. Returns how many.
    An action that needs a check is read back from the store before anything is sent again."""
    return hand_back_due(
        StoreAction,
        waiting=[Status.PENDING, Status.NEEDS_CHECK],
        running=Status.RUNNING,
        started_field="started_at",
        enqueue=enqueue,
        limit=limit,
        held=Q(status=Status.PENDING) & ~StoreAction.unblocked(),
    )
