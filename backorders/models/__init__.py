"""The store side: what was sold, what is on hand, what was shipped, and the owner's rules.

Invariants that money and stock depend on live in the database as CHECK and UNIQUE
constraints, so a write that breaks them fails whatever code path it came from.
"""

# Intake's own rows live beside the adapters; imported here so Django registers them with this app.
from ..intake.models import ImportJob, TaskDebounce
from .allocation import StockAllocation, StockAllocationQuerySet
from .catalog import Product, ProductQuerySet
from .common import ZERO, Channel
from .fulfilment import Shipment, TrackingEvent, TrackingStatus
from .intake import WebhookDelivery
from .orders import Customer, Order, OrderLine, OrderLineQuerySet, OrderQuerySet
from .policy import (
    StorePolicy,
    StorePolicyQuerySet,
    default_allowed_wording,
    default_cadence,
    default_forbidden_phrases,
    default_priority_classes,
)
from .stock import ChannelStock, ShopifyLocationLevel

__all__ = [
    "ZERO",
    "Channel",
    "ChannelStock",
    "Customer",
    "ImportJob",
    "Order",
    "OrderLine",
    "OrderLineQuerySet",
    "OrderQuerySet",
    "Product",
    "ProductQuerySet",
    "Shipment",
    "ShopifyLocationLevel",
    "StockAllocation",
    "StockAllocationQuerySet",
    "StorePolicy",
    "StorePolicyQuerySet",
    "TaskDebounce",
    "TrackingEvent",
    "TrackingStatus",
    "WebhookDelivery",
    "default_allowed_wording",
    "default_cadence",
    "default_forbidden_phrases",
    "default_priority_classes",
]
