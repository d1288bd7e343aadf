"""The customer's messages in a sweep: unscored ones read for sentiment and intents, and each
unlinked one linked to its order's open case."""

from __future__ import annotations

from packets.models import InboundMessage
from packets.rules import sentiment
from packets.sweep.load import Snapshot
from packets.sweep.write import update_rows


def score(snap: Snapshot) -> dict[int, dict]:
    """Read sentiment and intents of every unscored message; the snapshot sees the new scores."""
    rules = snap.rules
    readings = {}
    for row in snap.unscored:
        reading = sentiment.read_message(row["subject"], row["body"])
        readings[row["id"]] = {
            "id": row["id"],
            "sentiment": reading.sentiment,
            "intents": reading.intents,
            "escalated": sentiment.should_escalate(
                reading, below=rules.escalate_below_sentiment, enabled=rules.escalate_negative_sentiment
            ),
        }
    for messages in snap.inbound_by_order.values():
        for message in messages:
            if message["id"] in readings:
                message.update(readings[message["id"]])
    return readings


def store(snap: Snapshot, readings: dict[int, dict], case_ids: dict[str, int]) -> int:
    """Store the new scores, and link each unlinked message to its order's open case; how many
    were linked.

    A message saying the parcel never arrived goes to the order's tracking case when there is
    one; anything else to the order's backorder case first.
    """
    update_rows(InboundMessage, readings.values(), ["sentiment", "intents", "escalated"])
    links = []
    for order_id, messages in snap.inbound_by_order.items():
        backorder = case_ids.get(f"backorder:order:{order_id}")
        tracking = next(
            (
                case_ids[key]
                for key in (f"tracking:shipment:{row['id']}" for row in snap.shipments_by_order.get(order_id, []))
                if key in case_ids
            ),
            None,
        )
        for message in messages:
            if message["case_id"] is not None:
                continue
            not_received = sentiment.NOT_RECEIVED in (message["intents"] or [])
            target = (tracking or backorder) if not_received else (backorder or tracking)
            if target:
                links.append({"id": message["id"], "case_id": target})
    update_rows(InboundMessage, links, ["case_id"])
    return len(links)
