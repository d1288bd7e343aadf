"""Customer risk from what the customer wrote and who they are."""

from __future__ import annotations

from dataclasses import dataclass, field

from packets.rules.sentiment import CALLBACK, INTENT_LABELS, THREATS

from . import facts as f
from .facts import InboundFacts, OrderFacts, PolicyFacts

ASKS = frozenset({"refund", "cancel", "where_is_my_order", "not_received"})


@dataclass
class CustomerRisk:
    urgency: str  # low | medium | high
    repeat_contact: int
    intents: list[str]
    sentiment: float | None  # the most negative score among their messages
    signals: list[str] = field(default_factory=list)
    escalation: str | None = None  # a Case.Risk the customer's words demand, if any

    def as_content(self) -> dict:
        return {
            "urgency": self.urgency,
            "repeat_contact": self.repeat_contact,
            "intents": self.intents,
            "sentiment": self.sentiment,
            "signals": self.signals,
        }


def assess_customer(order: OrderFacts | None, policy: PolicyFacts) -> CustomerRisk:
    if order is None:
        return CustomerRisk(urgency="low", repeat_contact=0, intents=[], sentiment=None)
    messages: tuple[InboundFacts, ...] = order.inbound
    intents = [i for i in INTENT_LABELS if any(i in m.intents for m in messages)]
    scores = [m.sentiment for m in messages if m.sentiment is not None]
    worst = min(scores) if scores else None
    signals = [f"The customer {INTENT_LABELS[i]}." for i in intents]
    if CALLBACK in intents:
        signals.append("Support calls them back first (callback priority); no written reply replaces the call.")
    escalation = None
    threats = [i for i in intents if i in THREATS]
    negative = policy.escalate_negative_sentiment and worst is not None and worst < policy.escalate_below_sentiment
    if "chargeback" in threats or "legal_threat" in threats:
        escalation = f.CHARGEBACK_WATCH
    elif threats or negative:
        escalation = f.OWNER_ONLY
    if negative:
        signals.append(f"Their words score {worst:+.2f}, under the policy's {policy.escalate_below_sentiment:+.2f}.")
    if len(messages) >= 2:
        signals.append(f"They have written {len(messages)} times about this order.")
    if order.is_vip(policy):
        signals.append(f"VIP: {order.orders_count} previous orders.")
    if order.is_high_value(policy):
        signals.append(f"High-value order ({order.total}).")
    if escalation or CALLBACK in intents or any(m.escalated for m in messages):
        urgency = "high"
    elif len(messages) >= 2 or any(i in ASKS for i in intents) or (worst is not None and worst < 0):
        urgency = "medium"
    else:
        urgency = "low"
    return CustomerRisk(
        urgency=urgency,
        repeat_contact=len(messages),
        intents=intents,
        sentiment=worst,
        signals=signals,
        escalation=escalation,
    )
