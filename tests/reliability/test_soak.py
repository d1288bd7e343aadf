"""A soak run: ``SOAK_EVENTS`` (default 10,000) mixed events on loopback, then the invariants.

The production shape on the test database: gunicorn (2 workers) serving the app, one
``manage.py qcluster`` (ORM broker) applying deliveries, running the sweep after intake and sending
messages to an aiosmtpd server on loopback. The events, generated from a seed and sent in ten
waves over real HTTP (within a wave in a shuffled order, from four threads, each retried until
answered 200 as the platforms do):

* 30% Shopify ``orders/create`` and 15% WooCommerce ``order.created``, one or two lines over 20 SKUs;
* 10% stock counts (generic ``stock_level``), rising per SKU to a supply short of demand for some
  SKUs and above it for others;
* 15% shipping notices (generic ``tracking``, a label for an order shipped in an earlier wave,
  or for a third of them in the same wave or the one before: out of order) and 15% AfterShip
  updates for those parcels (in transit, delivered);
* 5% order edits (Shopify ``orders/updated``: a line's quantity lowered, or the line removed) in
  the waves where the stock counts for the same SKUs arrive: the shape that deadlocked;
* 10% approvals: the owner, signed in over HTTP, approves drafted customer updates as the sweep
  drafts them; the worker sends each one.

A delivery the worker took before the one it depends on (a label for an order not applied yet, a
scan for a parcel not known yet) waits and is applied when that arrives, or by the
``intake.retry_waiting`` schedule: nobody replays anything. Once the load has settled the owner
applies the open allocation proposals. Then:

* nothing lost: every order once, with all its lines; every parcel with its scans; every delivery
  processed, ignored or a duplicate (none failed, none still waiting); every approved message
  sent and received by the mail server;
* units conserved, nothing stranded: per SKU, on hand is the last count, allocated equals
  min(demand after the edits, supply), what the lines hold, and what the allocation trail adds
  up to; no free unit while a line waits;
* one message per cadence step per order line (and so per case);
* every open case is explained by its facts: a backorder case's order has lines waiting, as its
  packet says; a stockout case's product has waiting demand or is low, as its packet says; every
  order with a waiting line has its open case; and one more sweep changes nothing.

The run prints where its time went (sending, the worker catching up, replays, checks).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db.models import Count, F, Q, Sum
from django_q.models import OrmQ, Schedule

from backorders.allocation import approve_allocation
from backorders.models import (
    Order,
    OrderLine,
    Product,
    Shipment,
    StockAllocation,
    StorePolicy,
    TaskDebounce,
    WebhookDelivery,
)
from backorders.roles import OWNER, ensure_groups
from packets.models import AuditEvent, Case, Message
from packets.sweep import run_sweep
from tests import factories
from tests.loopback import LoopbackSMTP
from tests.processes import Processes, production_env
from tests.reliability import traffic

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

EVENTS = int(os.environ.get("SOAK_EVENTS", "10000"))
SKUS = [f"SOAK-{n:02d}" for n in range(20)]
WAVES = 10
SEED = 31
PASSWORD = "owner-password-for-the-soak"
SETTLE_SECONDS = int(os.environ.get("SOAK_SETTLE_SECONDS", "600"))
WAITING = [OrderLine.State.PENDING, OrderLine.State.BACKORDERED, OrderLine.State.PARTIAL]


@dataclass
class Load:
    waves: list[list[traffic.Delivery]] = field(default_factory=lambda: [[] for _ in range(WAVES)])
    orders: dict[tuple[str, str], list[tuple[str, int]]] = field(default_factory=dict)
    supply: dict[str, int] = field(default_factory=dict)
    parcels: dict[str, int] = field(default_factory=dict)  # tracking number -> scans sent for it
    approvals: int = 0
    edits: int = 0
    early_labels: int = 0  # labels sent in the wave before their order's
    kinds: Counter = field(default_factory=Counter)

    def add(self, wave: int, delivery: traffic.Delivery) -> None:
        self.waves[min(wave, WAVES - 1)].append(delivery)
        self.kinds[delivery.kind] += 1


def build_load(events: int) -> Load:
    rng = random.Random(SEED)
    load = Load()
    now = datetime.now(UTC)
    n_shopify, n_woo, n_counts = events * 30 // 100, events * 15 // 100, events * 10 // 100
    n_labels = n_scans = events * 15 // 100
    n_edits = events * 5 // 100
    load.approvals = events - n_shopify - n_woo - n_counts - n_labels - n_scans - n_edits
    total_orders = n_shopify + n_woo
    demand: Counter = Counter()
    placed: list[tuple[int, str, int]] = []  # (wave, channel, order id)
    for n in range(total_orders):
        wave = n * WAVES // total_orders
        lines = [(rng.choice(SKUS), rng.randint(1, 3)) for _ in range(rng.randint(1, 2))]
        lines = list({sku: quantity for sku, quantity in lines}.items())  # one line per SKU
        for sku, quantity in lines:
            demand[sku] += quantity
        email = f"soak{n % 1500}@example.com"
        created = (now - timedelta(minutes=total_orders - n)).isoformat()
        if n % 3 == 2 and n_woo:  # every third order is WooCommerce's, until its share is used
            n_woo -= 1
            order_id = 9_100_000 + n
            payload = traffic.woo_order(order_id, lines, email=email, created_gmt=created[:19])
            load.add(wave, traffic.woocommerce("order.created", payload, f"soak-woo-{order_id}"))
            channel = "woocommerce"
        else:
            order_id = 7_400_000_000 + n
            payload = traffic.shopify_order(order_id, f"#S{n}", lines, email=email, created_at=created)
            load.add(wave, traffic.shopify("orders/create", payload, f"soak-order-{order_id}"))
            channel = "shopify"
        load.orders[(channel, str(order_id))] = lines
        placed.append((wave, channel, order_id))

    # edits of Shopify orders already placed, a wave or two later, among that wave's stock counts
    editable = [order for order in placed if order[1] == "shopify" and order[0] < WAVES - 1]
    for wave, _, order_id in rng.sample(editable, min(n_edits, len(editable))):
        n = order_id - 7_400_000_000
        lines = load.orders[("shopify", str(order_id))]
        k = rng.randrange(len(lines))
        sku, quantity = lines[k]
        created = (now - timedelta(minutes=total_orders - n)).isoformat()
        payload = traffic.shopify_order(
            order_id, f"#S{n}", lines, email=f"soak{n % 1500}@example.com", created_at=created
        )
        payload["updated_at"] = (now - timedelta(minutes=total_orders - n) + timedelta(hours=1)).isoformat()
        payload["line_items"][k]["current_quantity"] = quantity - 1  # 0: the line is removed
        load.orders[("shopify", str(order_id))] = [*lines[:k], (sku, quantity - 1), *lines[k + 1 :]]
        load.add(wave + rng.randint(1, 2), traffic.shopify("orders/updated", payload, f"soak-edit-{order_id}"))
        load.edits += 1

    per_sku = n_counts // len(SKUS)
    for k, sku in enumerate(SKUS):
        # supply from a third of demand to half as much again: short for some SKUs, ample for others
        load.supply[sku] = max(per_sku, demand[sku] * (2 + k) // 12)
        for j in range(1, per_sku + 1):
            data = {"sku": sku, "on_hand": load.supply[sku] * j // per_sku, "updated_at": (now + timedelta(seconds=j))}
            data["updated_at"] = data["updated_at"].isoformat()
            load.add(j * WAVES // (per_sku + 1), traffic.generic("stock_level", data, f"soak-count-{sku}-{j}"))
    for k in range(n_counts - per_sku * len(SKUS)):  # the remainder: a count repeated (an at-least-once sender)
        load.add(WAVES - 1, load.waves[k % WAVES][0])

    # labels for orders of the first waves, so each parcel's scans come at least a wave after its label
    shipped = rng.sample([order for order in placed if order[0] < WAVES - 2], n_labels)
    for k, (wave, channel, order_id) in enumerate(shipped):
        number = f"1ZSOAK{order_id}"
        data = {
            "order_id": str(order_id),
            "order_channel": channel,
            "tracking_number": number,
            "carrier": "UPS",
            "events": [{"status": "label_created", "raw_status": "Label created", "occurred_at": now.isoformat()}],
        }
        # a third out of order: in the wave before the order (when there is one) or in its own wave
        label_wave = wave + 1 if k % 3 else max(0, wave - (k // 3) % 2)
        load.early_labels += label_wave < wave
        load.add(label_wave, traffic.generic("tracking", data, f"soak-label-{number}"))
        load.parcels[number] = 0
    for number, (wave, _, _) in zip(list(load.parcels)[:n_scans], shipped, strict=False):
        checkpoints = [("InTransit", (now + timedelta(hours=2)).isoformat(), "Departed facility")]
        if rng.random() < 0.5:
            checkpoints.append(("Delivered", (now + timedelta(hours=20)).isoformat(), "Delivered, front door"))
        load.add(wave + 2, traffic.aftership(number, checkpoints))
        load.parcels[number] = len(checkpoints)
    for wave in load.waves:
        rng.shuffle(wave)
    return load


class Approver:
    """The owner approving drafted customer updates as they appear, until ``quota`` are approved.

    The list is read, then each draft approved over HTTP; meanwhile the worker's sweep may cancel a
    draft whose line stopped waiting (its stock arrived). The product then refuses the approval with a
    400 page saying the message is no longer a draft and why; the owner re-reads the message, as a
    person reloading the page would, and moves on (a refused draft is never counted as approved). Any
    other refusal, or a refusal of a message that is still a draft, fails the run."""

    def __init__(self, base: str, quota: int):
        self.base, self.quota, self.approved = base, quota, []
        self.refused: list[tuple[int, str]] = []  # (message, what it had become)
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        from django.db import connection

        try:
            owner = traffic.OwnerSession(self.base, "olivia", PASSWORD)
            while len(self.approved) < self.quota and not self.stop.is_set():
                drafts = list(
                    Message.objects.filter(status=Message.Status.DRAFT, audience=Message.Audience.CUSTOMER)
                    .filter(guideline_issues=[])
                    .exclude(pk__in=self.approved)
                    .exclude(pk__in=[pk for pk, _ in self.refused])
                    .order_by("pk")
                    .values_list("pk", flat=True)[: self.quota - len(self.approved)]
                )
                if not drafts:
                    time.sleep(0.5)
                for pk in drafts:
                    if owner.approve(pk):
                        self.approved.append(pk)
                        continue
                    status = Message.objects.values_list("status", flat=True).get(pk=pk)  # re-read
                    assert status != Message.Status.DRAFT, f"message {pk} refused while still a draft"
                    self.refused.append((pk, status))
        except BaseException as exc:
            self.error = exc
        finally:
            connection.close()


def settled() -> bool:
    return not (
        OrmQ.objects.exists()
        or WebhookDelivery.objects.filter(status=WebhookDelivery.Status.RECEIVED).exists()
        or Message.objects.filter(
            status__in=[Message.Status.APPROVED, Message.Status.QUEUED, Message.Status.SENDING]
        ).exists()
        or TaskDebounce.objects.filter(pending_since__isnull=False).exists()
        or WebhookDelivery.objects.filter(status=WebhookDelivery.Status.WAITING).exists()
    )


def test_a_soak_of_mixed_events_keeps_every_invariant(tmp_path):
    started = time.monotonic()
    clock: dict[str, float] = {}

    def mark(name: str) -> None:
        clock[name] = round(time.monotonic() - started, 1)

    load = build_load(EVENTS)
    smtp = LoopbackSMTP().start()
    env = production_env(
        EMAIL_HOST=smtp.host,
        EMAIL_PORT=str(smtp.port),
        STATIC_MANIFEST="false",
        WEB_CONCURRENCY="2",
        Q_TIMEOUT="60",
        Q_RETRY="90",
        **traffic.SECRETS,
    )
    owner = factories.UserFactory(username="olivia")
    type(owner).objects.filter(pk=owner.pk).update(password=PBKDF2PasswordHasher().encode(PASSWORD, "soak", 1000))
    owner.groups.add(ensure_groups()[OWNER])
    for sku in SKUS:
        factories.ProductFactory(sku=sku, title=f"Soak item {sku}", on_hand=0, allocated=0)
    # the one schedule intake's healing relies on besides waking: waiting deliveries whose time came
    Schedule.objects.create(
        name="intake.retry_waiting",
        func="backorders.tasks.retry_waiting",
        schedule_type=Schedule.MINUTES,
        minutes=1,
        repeats=-1,
    )
    mark("setup")

    processes = Processes(tmp_path)
    sender = None
    approver = None
    try:
        base = processes.web(env)
        processes.cluster("cluster", env)
        mark("processes up")
        sender = traffic.Sender(base, threads=4, patience=60)
        approver = Approver(base, load.approvals)
        approving = threading.Thread(target=approver.run, daemon=True)
        approving.start()
        for wave in load.waves:
            sender.send(wave)
        mark("sent")
        approving.join(timeout=SETTLE_SECONDS)
        approver.stop.set()
        if approver.error:
            raise approver.error
        mark("approved")
        deadline = time.monotonic() + SETTLE_SECONDS
        while not settled() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert settled(), "the worker did not catch up in time"
        mark("worker caught up")
    finally:
        if approver:
            approver.stop.set()
        processes.stop_all()
        smtp.stop()

    # what arrived before what it needed waited and was applied without a replay: nothing failed
    failed = Counter(WebhookDelivery.objects.filter(status=WebhookDelivery.Status.FAILED).values_list("topic", "error"))
    assert not failed, failed
    waited = Counter(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PROCESSED, attempts__gt=1).values_list(
            "topic", flat=True
        )
    )
    applied = 0
    while proposal := StockAllocation.objects.filter(status=StockAllocation.Status.PROPOSED).first():
        approve_allocation(proposal.pk)  # the owner applies what waits for review
        applied += 1
    run_sweep()  # the facts changed by the replays and approvals; the worker is stopped
    mark("reconciled")
    figures = {
        "events": EVENTS,
        "deliveries sent": sender.figures["acknowledged"],
        "sender retries": sender.figures["retried"],
        "approvals": len(approver.approved),
        "approvals refused (the draft changed meanwhile)": len(approver.refused),
        "edits": load.edits,
        "labels before their order": load.early_labels,
        "waited, then applied": dict(waited),
        "proposals applied": applied,
        "orders": Order.objects.count(),
        "open cases": Case.objects.exclude(status=Case.Status.RESOLVED).count(),
        "emails": len(smtp.messages),
    }
    figures["delivery to applied (s)"] = latency()
    # lock cycles PostgreSQL broke, each run again inside its task (the worker logs every retry)
    worker_log = "".join(log.read_text(errors="replace") for log in tmp_path.glob("cluster*.log"))
    figures["lock cycles retried in the task"] = worker_log.count("trying again in")
    tasks = sender.figures["acknowledged"] + len(smtp.messages)
    figures["worker tasks per s"] = round(tasks / (clock["worker caught up"] - clock["processes up"]), 1)
    print(f"\nsoak: {figures}; kinds {dict(load.kinds)}")

    check_nothing_lost(load, smtp, approver)
    check_units_conserved(load)
    check_one_message_per_step()
    check_open_cases_are_explained()
    mark("checked")
    print(f"soak timeline (s from the start): {clock}")


def latency() -> dict[str, float]:
    """Seconds from a delivery's arrival to the worker having applied it: median, 95th percentile, worst."""
    waited = sorted(
        (processed - received).total_seconds()
        for received, processed in WebhookDelivery.objects.exclude(status=WebhookDelivery.Status.DUPLICATE)
        .filter(processed_at__isnull=False)
        .values_list("received_at", "processed_at")
    )
    if not waited:
        return {}
    pick = lambda q: round(waited[min(len(waited) - 1, int(q * len(waited)))], 1)  # noqa: E731
    return {"p50": pick(0.5), "p95": pick(0.95), "max": round(waited[-1], 1)}


# --------------------------------------------------------------------------- the invariants


def check_nothing_lost(load: Load, smtp: LoopbackSMTP, approver: Approver) -> None:
    statuses = Counter(WebhookDelivery.objects.values_list("status", flat=True))
    assert set(statuses) <= {"processed", "ignored", "duplicate"}, statuses
    kept = {
        (channel, external_id): count
        for channel, external_id, count in Order.objects.annotate(n=Count("lines")).values_list(
            "channel", "external_id", "n"
        )
    }
    assert kept == {key: len(lines) for key, lines in load.orders.items()}  # a removed line is kept, cancelled
    scans = dict(Shipment.objects.annotate(n=Count("events")).values_list("tracking_number", "n"))
    assert scans == {number: 1 + count for number, count in load.parcels.items()}
    assert len(approver.approved) == load.approvals
    # a refused approval is a draft the sweep cancelled between the list and the click, with its reason
    for pk, status in approver.refused:
        assert status == Message.Status.CANCELLED, (pk, status)
        assert AuditEvent.objects.filter(action="message.cancelled", object_id=str(pk)).exists(), pk
    # an approved update whose line stopped waiting before it went out is cancelled, with its reason
    messages = Message.objects.filter(pk__in=approver.approved).select_related("order_line")
    assert set(messages.values_list("status", flat=True)) <= {Message.Status.SENT, Message.Status.CANCELLED}
    for message in messages.filter(status=Message.Status.CANCELLED):
        assert message.order_line.state not in WAITING, message
        assert AuditEvent.objects.filter(action="message.cancelled", object_id=str(message.pk)).exists(), message
    arrived = Counter(mail.message["Message-ID"] for mail in smtp.messages)
    sent = messages.filter(status=Message.Status.SENT)
    assert {m.provider_id: arrived[m.provider_id] for m in sent} == {m.provider_id: 1 for m in sent}


def check_units_conserved(load: Load) -> None:
    demand = Counter()
    for lines in load.orders.values():
        for sku, quantity in lines:
            demand[sku] += quantity
    live = Q(order_lines__state__in=[*WAITING, OrderLine.State.ALLOCATED, OrderLine.State.SHIPPED])
    trail = dict(
        StockAllocation.objects.filter(status=StockAllocation.Status.APPLIED)
        .values("product_id")
        .annotate(units=Sum("applied_units"))
        .values_list("product_id", "units")
    )
    for product in Product.objects.annotate(
        held=Sum(F("order_lines__allocated") - F("order_lines__shipped"), filter=live),
        wanted=Sum("order_lines__quantity", filter=live),
        short=Sum(F("order_lines__quantity") - F("order_lines__allocated"), filter=Q(order_lines__state__in=WAITING)),
    ):
        assert product.wanted == demand[product.sku], product.sku
        assert product.on_hand == load.supply[product.sku], (product.sku, product.on_hand)
        expected = min(demand[product.sku], load.supply[product.sku])
        assert product.allocated == product.held == expected, (product.sku, product.allocated, product.held, expected)
        # the trail adds up to what the lines hold: no change to an allocation without its record
        assert trail.get(product.pk, 0) == product.allocated, (product.sku, trail.get(product.pk), product.allocated)
        # nothing stranded: no unit left free while a line waits for one
        assert not (product.short and product.on_hand > product.allocated), (product.sku, product.short)


def check_one_message_per_step() -> None:
    repeated = (
        Message.objects.exclude(step="")
        .values("case_id", "order_line_id", "step")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert list(repeated) == []


def check_open_cases_are_explained() -> None:
    waiting_lines = OrderLine.objects.filter(
        state__in=WAITING, order__status=Order.Status.OPEN, allocated__lt=F("quantity")
    ).values_list("order_id", "product_id", "product__sku", F("quantity") - F("allocated"))
    by_order, by_product = defaultdict(list), Counter()
    for order_id, product_id, sku, short in waiting_lines:
        by_order[order_id].append((sku, short))
        by_product[product_id] += short
    watch_at = StorePolicy.objects.current().stock_watch_at
    backorders = set()
    for case in Case.objects.exclude(status=Case.Status.RESOLVED).select_related("product"):
        packet = case.latest_packet
        assert packet is not None, case
        content = packet.content
        if case.kind == Case.Kind.BACKORDER:
            # the packet lists the lines that wait, short by what the database says
            backorders.add(case.order_id)
            told = sorted((line["sku"], line["short"]) for line in content["order"]["lines"] if line["short"])
            assert told == sorted(by_order[case.order_id]), (case.pk, told, by_order[case.order_id])
        elif case.kind == Case.Kind.STOCKOUT:
            # orders wait on the product, or its free units are at the watch level, as the packet says
            told = content["product"]
            free = case.product.on_hand - case.product.allocated
            assert told["waiting_units"] == by_product[case.product_id], (case.pk, told)
            assert told["waiting_units"] > 0 or free <= watch_at, (case.pk, told, free)
        else:  # a parcel case: its shipment, with the tracking the packet read
            assert case.shipment_id is not None and content["tracking"], case
    assert backorders == set(by_order), "an order waits on stock without an open case, or the reverse"
    again = run_sweep()
    assert not again.changed, str(again)
