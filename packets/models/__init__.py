"""The decision side: cases, their packets, the owner's decisions and what reached customers.

Status changes go through ``set_status()`` methods that check an allowed-transitions table and
write an AuditEvent in the same transaction; an illegal move raises, it is never a silent no-op.
"""

from .audit import AuditEvent, AuditEventQuerySet
from .base import IllegalTransition, StatusMachine
from .cases import Case, CaseQuerySet, Decision, Outcome, Packet
from .inbound_mail import InboundMail
from .integrations import (
    OutboundDelivery,
    OutboundSubscription,
    StoreAction,
    StoreActionQuerySet,
    ZendeskTicket,
    new_webhook_secret,
)
from .messages import InboundMessage, Message
from .operations import DirtyCaseKey, ExportJob, WorkerHeartbeat
from .platforms import PlatformTag
from .slack import SlackInteraction, SlackLink, SlackPost

__all__ = [
    "AuditEvent",
    "AuditEventQuerySet",
    "Case",
    "CaseQuerySet",
    "Decision",
    "DirtyCaseKey",
    "ExportJob",
    "IllegalTransition",
    "InboundMail",
    "InboundMessage",
    "Message",
    "OutboundDelivery",
    "OutboundSubscription",
    "Outcome",
    "Packet",
    "PlatformTag",
    "SlackInteraction",
    "SlackLink",
    "SlackPost",
    "StatusMachine",
    "StoreAction",
    "StoreActionQuerySet",
    "WorkerHeartbeat",
    "ZendeskTicket",
    "new_webhook_secret",
]
