"""The cadence: which customer messages exist, and when, as the facts change over 40 days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from backorders.models import Customer, Order, OrderLine, StorePolicy
from packets.models import AuditEvent, Case, Message
from packets.notify.cadence import draft_due_messages
from packets.notify.messaging import approve_message, grant_standing_approval
from packets.notify.tasks import send_message
from suppliers.eta import customer_range
from suppliers.models import PurchaseOrder, SupplierUpdate
from tests import factories

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # a Monday, 9:00 in the store's time zone


def waiting_line(*, at=T0, promised: date | None = None, product=None, customer=None, total="45.00", **line):
    order = factories.OrderFactory(
        placed_at=at,
        promised_ship_by=promised,
        total=Decimal(total),
        customer=customer or factories.CustomerFactory(),
    )
    return factories.OrderLineFactory(
        order=order,
        state=OrderLine.State.BACKORDERED,
        backordered_at=at,
        **({"product": product} if product else {}),
        **line,
    )


def keys_for(line) -> list[str]:
    return sorted(Message.objects.filter(order_line=line).values_list("idempotency_key", flat=True))


def test_it_drafts_exactly_the_expected_messages_from_day_0_to_day_40(policy):
    with time_machine.travel(T0, tick=False) as clock:
        promised = waiting_line(promised=(T0 + timedelta(days=10)).date())  # A: promise lapses on day 10
        restocked = waiting_line()  # B: stock arrives on day 20, ships on day 22
        cancelled = waiting_line()  # C: the customer cancels on day 16
        no_promise = waiting_line()  # D: waits past the 30-day rule
        first_seen: dict[str, int] = {}
        for day in range(41):
            clock.move_to(T0 + timedelta(days=day, hours=1))
            if day == 16:
                Order.objects.filter(pk=cancelled.order_id).update(status="cancelled", cancelled_at=T0)
                OrderLine.objects.filter(pk=cancelled.pk).update(state="cancelled", cancelled_at=T0)
            if day == 20:
                OrderLine.objects.filter(pk=restocked.pk).update(state="allocated", allocated=1)
            if day == 22:
                factories.ShipmentFactory(  # the carrier has scanned it: it is moving (a label alone is not)
                    order=restocked.order,
                    carrier="UPS",
                    tracking_number="1Z999AA10123456784",
                    status="in_transit",
                    first_scan_at=timezone.now(),
                    last_scan_at=timezone.now(),
                )
                OrderLine.objects.filter(pk=restocked.pk).update(state="shipped", shipped=1, shipped_at=timezone.now())
            draft_due_messages(T0 + timedelta(days=day, hours=1))
            for key in Message.objects.values_list("idempotency_key", flat=True):
                first_seen.setdefault(key, day)

    def expected(line, steps):
        return {f"cadence:{line.pk}:{step}": day for step, day in steps}

    cadence = [("confirmation", 0), ("update_48h", 2), ("update_day7", 7), ("update_day14", 14)]
    assert first_seen == {
        # no date could be given on day 10: 30 days on, the customer is asked again (renewed notice)
        **expected(promised, [*cadence, ("delay_notice", 10), ("delay_notice:2", 40)]),
        **expected(restocked, [*cadence, ("restocked", 20), ("shipped", 22)]),
        **expected(cancelled, cadence),
        **expected(no_promise, [*cadence, ("delay_notice", 30)]),
    }
    # Nothing is left pending for the cancelled line; the restocked line keeps only its shipped note.
    assert set(Message.objects.filter(order_line=cancelled).values_list("status", flat=True)) == {"cancelled"}
    statuses = dict(Message.objects.filter(order_line=restocked).values_list("step", "status"))
    assert statuses == {
        "confirmation": "cancelled",
        "update_48h": "cancelled",
        "update_day7": "cancelled",
        "update_day14": "cancelled",
        "restocked": "cancelled",
        "shipped": "draft",
    }
    shipped = Message.objects.get(order_line=restocked, step="shipped")
    assert "1Z999AA10123456784" in shipped.body and "Thank you for your patience" in shipped.body
    assert AuditEvent.objects.filter(action="message.cancelled").count() == 4 + 5
    notice = Message.objects.get(idempotency_key=f"cadence:{promised.pk}:delay_notice")
    assert "could not ship" in notice.body and "within the time we promised" in notice.body
    assert "has not confirmed a date yet" in notice.body  # no range known: said plainly
    assert "full, prompt refund at no cost" in notice.body and "http://127.0.0.1:8000/o/" in notice.body
    assert notice.guideline_issues == []


def test_it_writes_one_message_when_the_sweep_was_down_for_a_week(policy):
    with time_machine.travel(T0 + timedelta(days=8), tick=False):
        line = waiting_line()
        draft_due_messages()
        draft_due_messages()
    assert keys_for(line) == [f"cadence:{line.pk}:update_day7"]


def test_it_says_plainly_that_no_date_is_known_and_includes_the_cancel_link(policy):
    with time_machine.travel(T0, tick=False):
        line = waiting_line()
        draft_due_messages()
    message = Message.objects.get(order_line=line)
    assert message.channel == "email" and message.to == line.order.customer.email
    assert "has not confirmed a date yet" in message.body
    assert "We will write again by March 4." in message.body  # the 48-hour update is due then
    assert "http://127.0.0.1:8000/o/" in message.body
    assert message.guideline_issues == [] and message.eta_told == "unknown"
    assert message.status == "draft" and message.case is None and not message.needs_owner


def test_it_gives_a_range_and_never_one_date_when_the_supplier_quoted(policy):
    with time_machine.travel(T0, tick=False):
        line = waiting_line()
        source = factories.SupplierSourceFactory(product=line.product, lead_time_days=6)
        po = factories.PurchaseOrderFactory(supplier=source.supplier, quoted_at=date(2026, 3, 16))
        factories.PurchaseOrderLineFactory(purchase_order=po, product=line.product)
        draft_due_messages()
        eta = customer_range(line.product, policy=policy)
    message = Message.objects.get(order_line=line)
    assert eta is not None and eta.start < eta.end
    said = f"We expect it to ship between {eta.start:%B} {eta.start.day} and {eta.end:%B} {eta.end.day}."
    assert said in message.body
    assert message.eta_told == f"{eta.start.isoformat()}..{eta.end.isoformat()}"


@pytest.fixture
def sms_set_up(settings):
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC0123456789", "token-0123456789"
    settings.TWILIO_FROM = "+15555550199"
    return settings


def test_it_prefers_sms_only_with_opt_in_and_a_phone(policy, sms_set_up):
    with time_machine.travel(T0, tick=False):
        texter = factories.CustomerFactory(preferred_channel="sms", sms_opt_in=True, phone="+15555550100")
        no_opt_in = factories.CustomerFactory(preferred_channel="sms", phone="+15555550101")
        sms_line, email_line = waiting_line(customer=texter), waiting_line(customer=no_opt_in)
        draft_due_messages()
    sms = Message.objects.get(order_line=sms_line)
    assert (sms.channel, sms.to) == ("sms", "+15555550100")
    assert len(sms.body.split()) <= policy.sms_word_limit and sms.guideline_issues == []
    assert Message.objects.get(order_line=email_line).channel == "email"


def test_it_attaches_drafts_to_the_open_case_and_marks_vip_and_high_value_for_the_owner(policy):
    with time_machine.travel(T0, tick=False):
        vip = waiting_line(customer=factories.CustomerFactory(orders_count=policy.vip_min_orders))
        big = waiting_line(total="600.00")
        plain = waiting_line()
        case = factories.CaseFactory(order=plain.order)
        draft_due_messages()
    assert Message.objects.get(order_line=vip).needs_owner
    assert Message.objects.get(order_line=big).needs_owner
    plain_message = Message.objects.get(order_line=plain)
    assert not plain_message.needs_owner and plain_message.case == case


def test_it_sends_a_revised_range_once_when_the_told_range_no_longer_holds(policy, django_capture_on_commit_callbacks):
    with time_machine.travel(T0, tick=False) as clock:
        line = waiting_line()
        source = factories.SupplierSourceFactory(product=line.product, lead_time_days=6)
        po = factories.PurchaseOrderFactory(supplier=source.supplier, quoted_at=date(2026, 3, 16))
        factories.PurchaseOrderLineFactory(purchase_order=po, product=line.product)
        draft_due_messages()
        Message.objects.filter(order_line=line).update(status="sent", approved_at=T0, sent_at=T0)

        clock.move_to(T0 + timedelta(hours=5))
        draft_due_messages()  # same range: nothing new
        assert keys_for(line) == [f"cadence:{line.pk}:confirmation"]

        PurchaseOrder.objects.filter(pk=po.pk).update(quoted_at=date(2026, 4, 20))
        draft_due_messages()
        draft_due_messages()
        eta = customer_range(line.product, policy=policy)
    revised = Message.objects.get(order_line=line, step="eta_revised")
    assert revised.idempotency_key == f"cadence:{line.pk}:eta_revised:1"
    assert eta.start >= date(2026, 4, 20), "the new range starts after the new quote"
    said = f"between {eta.start:%B} {eta.start.day} and {eta.end:%B} {eta.end.day}"
    assert "has changed" in revised.body and said in revised.body
    assert revised.eta_told == f"{eta.start.isoformat()}..{eta.end.isoformat()}"


def test_a_delay_notice_stands_in_for_the_update_due_at_the_same_time(policy):
    """A line first seen with its promise long gone gets the delay notice alone, not two emails."""
    with time_machine.travel(T0 + timedelta(days=15), tick=False) as clock:
        line = waiting_line(promised=(T0 + timedelta(days=3)).date())
        draft_due_messages()
        clock.move_to(T0 + timedelta(days=16))
        draft_due_messages()
        assert keys_for(line) == [f"cadence:{line.pk}:delay_notice"]
        clock.move_to(T0 + timedelta(days=21, hours=1))  # the next cadence step falls due after the notice
        policy.revise(cadence=[*policy.cadence, {"key": "update_day21", "after_hours": 21 * 24}])
        draft_due_messages()
    assert keys_for(line) == [f"cadence:{line.pk}:delay_notice", f"cadence:{line.pk}:update_day21"]


def test_a_renewed_delay_notice_goes_out_before_the_revised_date_runs_out(policy):
    """The first notice gave a range; two days before its end, with the estimate past it, the customer
    gets a renewed notice with the new range and the cancel link, once."""
    with time_machine.travel(T0, tick=False) as clock:
        line = waiting_line(promised=date(2026, 3, 4))
        source = factories.SupplierSourceFactory(product=line.product, lead_time_days=6)
        po = factories.PurchaseOrderFactory(supplier=source.supplier, quoted_at=date(2026, 3, 16))
        factories.PurchaseOrderLineFactory(purchase_order=po, product=line.product)
        clock.move_to(T0 + timedelta(days=2, hours=1))
        draft_due_messages()
        notice = Message.objects.get(order_line=line, step="delay_notice")
        told_end = date.fromisoformat(notice.eta_told.split("..")[1])
        Message.objects.filter(order_line=line).update(status="sent", approved_at=T0, sent_at=timezone.now())

        # three days before the date: not yet
        clock.move_to(datetime.combine(told_end - timedelta(days=3), T0.timetz()))
        draft_due_messages()
        assert Message.objects.filter(order_line=line, step="delay_notice").count() == 1

        # two days before it, with the supplier's new quote well past it: a renewed notice, once
        clock.move_to(datetime.combine(told_end - timedelta(days=2), T0.timetz()))
        PurchaseOrder.objects.filter(pk=po.pk).update(quoted_at=told_end + timedelta(days=20))
        draft_due_messages()
        draft_due_messages()
    renewed = Message.objects.get(idempotency_key=f"cadence:{line.pk}:delay_notice:2")
    assert renewed.step == "delay_notice" and renewed.subject.endswith("a further delay, and your options")
    assert "still cannot ship" in renewed.body and "by the date we last gave you" in renewed.body
    assert "full, prompt refund at no cost" in renewed.body and renewed.guideline_issues == []
    assert date.fromisoformat(renewed.eta_told.split("..")[0]) > told_end
    assert not Message.objects.filter(order_line=line, step="eta_revised").exists(), "the notice says it"


def test_it_approves_steps_with_a_standing_approval_when_evidence_agrees(
    owner, policy, django_capture_on_commit_callbacks
):
    new_policy = grant_standing_approval("confirmation", owner)
    assert new_policy.version == policy.version + 1 and new_policy.standing_approvals == ["confirmation"]
    assert AuditEvent.objects.filter(action="policy.standing_approval").count() == 1
    with time_machine.travel(T0, tick=False):
        calm = waiting_line()
        vip = waiting_line(customer=factories.CustomerFactory(orders_count=10))
        at_risk = waiting_line()
        factories.CaseFactory(order=at_risk.order, risk_level=Case.Risk.CHARGEBACK_WATCH)
        conflicted = waiting_line()
        earlier = factories.SupplierUpdateFactory(product=conflicted.product)
        factories.SupplierUpdateFactory(
            product=conflicted.product, strength=SupplierUpdate.Strength.CONFLICTING, conflicts_with=earlier
        )
        with django_capture_on_commit_callbacks() as callbacks:
            result = draft_due_messages()
    auto = Message.objects.get(order_line=calm)
    assert auto.status == "queued" and auto.standing_approval and auto.approved_at == T0
    assert result.auto_approved == [auto.pk] and len(callbacks) == 1
    assert AuditEvent.objects.filter(object_id=str(auto.pk), action="message.approved").exists()
    for line in (vip, at_risk, conflicted):
        message = Message.objects.get(order_line=line)
        assert message.status == "draft" and not message.standing_approval
    assert Message.objects.get(order_line=conflicted).needs_owner


def test_it_lets_only_the_owner_grant_standing_approvals_for_known_steps(owner, support, policy):
    with pytest.raises(PermissionDenied):
        grant_standing_approval("confirmation", support)
    with pytest.raises(ValidationError):
        grant_standing_approval("no_such_step", owner)
    assert StorePolicy.objects.current().version == policy.version


@pytest.mark.parametrize("rows", [1, 12])
def test_it_drafts_in_a_fixed_number_of_queries(policy, django_assert_num_queries, rows):
    with time_machine.travel(T0, tick=False):
        products = factories.ProductFactory.create_batch(3)
        for n in range(rows):
            waiting_line(product=products[n % 3])
        Customer.objects.update(name="Ann Example")
        # savepoint; current policy; relevant lines with order, customer, product; their messages;
        # open cases of their orders; conflicting supplier updates; ETA ranges for all the waiting
        # products at once (sources, open purchase orders, supplier evidence, lateness history);
        # the shipments of their orders (has part shipped? does a carrier scan show it moving?);
        # bulk insert; release savepoint
        with django_assert_num_queries(13):
            result = draft_due_messages()
    assert len(result.drafted) == rows
    assert Message.objects.count() == rows


@pytest.mark.parametrize("channel", ["sms", "email"])
@pytest.mark.parametrize("known", [True, False], ids=["range known", "no date known"])
@pytest.mark.parametrize(
    "step", ["confirmation", "update_48h", "update_day14", "delay_notice", "eta_revised", "restocked", "shipped"]
)
def test_it_drafts_every_step_within_the_guidelines(policy, channel, known, step):
    from packets.notify import drafting
    from suppliers.eta import EtaRange

    product = factories.ProductFactory(title="Hand-thrown Stoneware Pour-Over Coffee Set", variant_title="Sea Green")
    line = waiting_line(product=product, title="", customer=factories.CustomerFactory(name="Ann Example"))
    eta = EtaRange(date(2026, 12, 15), date(2026, 12, 22), 0.9, "quote") if known else None
    shipment = factories.ShipmentFactory(
        order=line.order, tracking_url="https://www.ups.com/track?tracknum=1Z999", status="in_transit"
    )
    draft = drafting.render(
        step,
        line=line,
        channel=channel,
        policy=policy,
        today=date(2026, 11, 30),
        link="http://127.0.0.1:8000/o/eyJvIjoyMDd9:1xVUoc:2jhhbhUrte3pzCHSuadjT0LbcyxoI_7PjM3LFzPyWjc/",
        eta=eta,
        next_update=date(2026, 12, 7) if step != "update_day14" else None,
        offer_cancel=step in ("update_day14", "delay_notice"),
        shipment=shipment,
    )
    assert draft.issues == []
    assert "Hand-thrown Stoneware Pour-Over Coffee Set (Sea Green)" in draft.body
    if step not in ("restocked", "shipped"):
        assert ("December 15 and December 22" in draft.body) == known


@pytest.mark.parametrize(
    ("told", "eta_end", "today", "due"),
    [
        ("2026-03-16..2026-03-19", date(2026, 3, 19), date(2026, 3, 18), False),  # the estimate still makes it
        ("2026-03-16..2026-03-19", date(2026, 3, 20), date(2026, 3, 16), False),  # slipped, but not yet time
        ("2026-03-16..2026-03-19", date(2026, 3, 20), date(2026, 3, 17), True),  # slipped, two days before
        ("2026-03-16..2026-03-19", None, date(2026, 3, 17), True),  # no estimate any more
    ],
)
def test_when_a_renewed_notice_is_due(told, eta_end, today, due):
    from packets.notify.cadence import _renewal_due
    from suppliers.eta import EtaRange

    rows = [
        {"step": "update_48h", "status": "sent", "eta_told": "unknown", "created_at": T0},
        {"step": "delay_notice", "status": "sent", "eta_told": told, "created_at": T0 + timedelta(days=2)},
        {"step": "delay_notice", "status": "cancelled", "eta_told": "unknown", "created_at": T0 + timedelta(days=3)},
    ]
    eta = EtaRange(date(2026, 3, 14), eta_end, 0.9, "quote") if eta_end else None
    assert _renewal_due(rows, eta, T0 + timedelta(days=5), today) is due


# --------------------------------------------------------------------------- channels that are not set up


def test_it_never_drafts_sms_while_sms_is_not_set_up(policy, settings):
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = settings.TWILIO_FROM = ""
    with time_machine.travel(T0, tick=False):
        texter = factories.CustomerFactory(preferred_channel="sms", sms_opt_in=True, phone="+15555550100")
        no_email = factories.CustomerFactory(preferred_channel="sms", sms_opt_in=True, phone="+15555550102", email="")
        line, unreachable = waiting_line(customer=texter), waiting_line(customer=no_email)
        draft_due_messages()
    assert [(m.channel, m.to) for m in Message.objects.filter(order_line=line)] == [("email", texter.email)]
    assert not Message.objects.filter(order_line=unreachable).exists()  # no channel set up reaches them
    assert not Message.objects.filter(channel="sms").exists()


def test_it_never_drafts_email_while_email_is_not_set_up(policy, settings):
    settings.EMAIL_BACKEND, settings.EMAIL_HOST = "django.core.mail.backends.smtp.EmailBackend", ""
    with time_machine.travel(T0, tick=False):
        waiting_line()
        draft_due_messages()
    assert not Message.objects.exists()


def test_a_message_that_failed_for_its_channel_is_not_followed_by_another(policy, sms_set_up, owner):
    with time_machine.travel(T0, tick=False):
        texter = factories.CustomerFactory(preferred_channel="sms", sms_opt_in=True, phone="+15555550100")
        line = waiting_line(customer=texter)
        draft_due_messages()
    [sms] = Message.objects.filter(order_line=line)
    # SMS loses its configuration after the draft was approved and before it went out
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        approve_message(sms.pk, owner)
        sms_set_up.TWILIO_ACCOUNT_SID = ""
        assert (
            send_message(sms.pk)
            == "failed: SMS is not configured: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM"
        )
    for minutes in (10, 15, 60):
        with time_machine.travel(T0 + timedelta(minutes=minutes), tick=False):
            draft_due_messages()
    assert list(Message.objects.filter(customer=texter).values_list("channel", "status")) == [("sms", "failed")]
    # the next cadence step, when it falls due, goes by a channel that is set up
    with time_machine.travel(T0 + timedelta(days=3), tick=False):
        draft_due_messages()
    later = Message.objects.filter(customer=texter).exclude(pk=sms.pk)
    assert [m.channel for m in later] == ["email"]
