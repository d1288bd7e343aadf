"""The owner's wording of the cadence steps: the variant that applies is drafted (VIP, first-time
buyer with the FAQ link, the day-7 alternative offer, everyone else), an empty wording keeps the
built-in text, a save makes a new policy version audited before and after, and a wording that breaks
the guidelines or names an unknown placeholder is refused."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from backorders.models import OrderLine, StorePolicy
from packets.models import AuditEvent, Message
from packets.notify import drafting
from packets.notify import wording_edit as edit
from packets.notify.cadence import draft_due_messages
from tests import factories

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # a Monday
FAQ = "https://shop.example.com/faq"
EVERYONE = "Hi {first_name}, {product} on order {order_number} is still on backorder. Cancel free: {cancel_link}"
VIP_TEXT = "Hi {first_name}, thank you for ordering again. {product} still waits. Cancel any time: {cancel_link}"
FIRST = "Hi {first_name}, welcome! How backorders work: {faq_link}. Your order page: {cancel_link}"
DAY7_ALT = (
    "Hi {first_name}, {product} still waits. We have {alternative} in stock and can send it if you reply YES. "
    "Or cancel: {cancel_link}"
)


def form(faq_url: str = "", **variants) -> dict:
    """A posted form: ``default="email text"`` or ``vip=("subject", "email text")``."""
    data = {"faq_url": faq_url}
    for variant, value in variants.items():
        subject, email = ("", value) if isinstance(value, str) else value
        data.update({f"{variant}-subject": subject, f"{variant}-email": email, f"{variant}-sms": ""})
    return data


def waiting_line(customer, product=None):
    order = factories.OrderFactory(placed_at=T0, total=Decimal("45.00"), customer=customer)
    return factories.OrderLineFactory(
        order=order, state=OrderLine.State.BACKORDERED, backordered_at=T0, **({"product": product} if product else {})
    )


def drafted(line) -> Message:
    return Message.objects.get(order_line=line)


def variant_audit(message) -> str:
    return AuditEvent.objects.get(action="message.drafted", object_id=str(message.pk)).data["variant"]


def test_without_wording_the_built_in_text_is_drafted_and_no_variant_is_recorded(policy):
    line = waiting_line(factories.CustomerFactory(name="Ada Moss", orders_count=1))
    draft_due_messages(T0 + timedelta(hours=49))
    message = drafted(line)
    assert message.step == "update_48h"
    assert message.body.startswith("Hi Ada,\n\nAn update on order")
    assert message.subject == drafting.DEFAULT_SUBJECT.format(number=line.order.number)
    assert not AuditEvent.objects.filter(action="message.drafted").exists()


def test_each_customer_gets_the_variant_that_fits(owner, policy):
    edit.save_step(
        "update_48h",
        owner,
        form(
            default=("Order {order_number}: still waiting", EVERYONE),
            vip=("", VIP_TEXT),
            first_order=("Welcome: order {order_number}", FIRST),
            faq_url=FAQ,
        ),
    )
    regular = waiting_line(factories.CustomerFactory(name="Ada Moss", orders_count=1))
    vip = waiting_line(factories.CustomerFactory(name="Vera Long", orders_count=policy.vip_min_orders))
    first = waiting_line(factories.CustomerFactory(name="Finn Kay", orders_count=0))

    with time_machine.travel(T0 + timedelta(hours=49), tick=False):
        draft_due_messages()

    m = drafted(regular)
    assert m.body.startswith("Hi Ada, ") and "still on backorder" in m.body
    assert m.eta_told == ""  # the wording has no {range}: no range was told
    assert m.subject == f"Order {regular.order.number}: still waiting"
    assert f"{settings.SITE_URL}/o/" in m.body and m.guideline_issues == []
    assert variant_audit(m) == "default"

    m = drafted(vip)
    assert "thank you for ordering again" in m.body and m.needs_owner  # a VIP's draft still waits for the owner
    assert m.subject == f"Order {vip.order.number}: still waiting"  # no VIP subject: the step's subject
    assert variant_audit(m) == "vip"

    m = drafted(first)
    assert f"How backorders work: {FAQ}." in m.body and m.subject == f"Welcome: order {first.order.number}"
    assert variant_audit(m) == "first_order"
    event = AuditEvent.objects.get(action="message.drafted", object_id=str(m.pk))
    assert event.data == {"step": "update_48h", "variant": "first_order", "policy_version": policy.version + 1}


def test_day_7_offers_the_in_stock_alternative_only_where_one_is_in_stock(owner, policy):
    edit.save_step("update_day7", owner, form(default=EVERYONE, alternative=("An item we can send now", DAY7_ALT)))
    rust = factories.ProductFactory(title="Linen Throw", variant_title="Rust", on_hand=0)
    factories.ProductFactory(title="Linen Throw", variant_title="Sand", on_hand=4, allocated=1)
    factories.ProductFactory(title="Linen Throw", variant_title="Moss", on_hand=9, status="discontinued")
    lonely = factories.ProductFactory(title="Stone Vase", on_hand=0)
    factories.ProductFactory(title="Stone Vase", variant_title="Big", on_hand=1, allocated=1)  # none free
    offered = waiting_line(factories.CustomerFactory(name="Ada Moss", orders_count=1), rust)
    plain = waiting_line(factories.CustomerFactory(name="Bo Lind", orders_count=1), lonely)

    draft_due_messages(T0 + timedelta(days=7, hours=1))

    m = drafted(offered)
    assert m.step == "update_day7" and "We have Linen Throw (Sand) in stock" in m.body
    assert m.subject == "An item we can send now" and variant_audit(m) == "alternative"
    m = drafted(plain)
    assert "in stock" not in m.body and m.body.startswith("Hi Bo, Stone Vase")
    assert variant_audit(m) == "default"


def test_a_variant_left_empty_falls_back_to_the_default_and_that_to_the_built_in_text(owner, policy):
    edit.save_step("update_48h", owner, form(vip=VIP_TEXT))  # only a VIP wording
    regular = waiting_line(factories.CustomerFactory(name="Ada Moss", orders_count=1))
    vip = waiting_line(factories.CustomerFactory(name="Vera Long", orders_count=9))
    draft_due_messages(T0 + timedelta(hours=49))
    assert drafted(regular).body.startswith("Hi Ada,\n\nAn update on order")  # built-in
    assert "thank you for ordering again" in drafted(vip).body


def test_a_wording_with_the_range_tells_it_and_the_cadence_counts_it_told(owner, policy):
    edit.save_step("update_48h", owner, form(default="Hi {first_name}, it ships {range}. {cancel_link}"))
    line = waiting_line(factories.CustomerFactory(name="Ada Moss", orders_count=1))
    draft_due_messages(T0 + timedelta(hours=49))
    m = drafted(line)
    assert m.body.startswith("Hi Ada, it ships once our supplier confirms a date. http")  # no estimate yet
    assert m.eta_told == drafting.UNKNOWN and m.guideline_issues == []


def test_first_time_wording_is_not_used_without_a_faq_address(owner, policy):
    edit.save_step("update_48h", owner, form(default=EVERYONE, first_order=FIRST, faq_url=FAQ))
    StorePolicy.objects.current().revise(faq_url="")  # the address taken out later (in the admin)
    first = waiting_line(factories.CustomerFactory(name="Finn Kay", orders_count=0))
    draft_due_messages(T0 + timedelta(hours=49))
    assert variant_audit(drafted(first)) == "default" and "{faq_link}" not in drafted(first).body


# --------------------------------------------------------------------------- saving: versions and refusals


def test_a_save_makes_a_new_version_audited_with_the_wording_before_and_after(owner, policy):
    first = edit.save_step("update_48h", owner, form(default=EVERYONE))
    assert first.version == policy.version + 1 and first.created_by == owner
    assert StorePolicy.objects.get(pk=policy.pk).cadence_wording == {}  # the old version stays as it was
    second = edit.save_step("update_48h", owner, form(default=VIP_TEXT, faq_url=FAQ))
    assert second.version == first.version + 1 and second.faq_url == FAQ

    events = list(AuditEvent.objects.filter(action="policy.wording_changed").order_by("pk"))
    assert [e.data["version"] for e in events] == [first.version, second.version]
    assert events[0].data["before"] == {} and events[0].data["after"] == {"default": {"email": EVERYONE}}
    assert events[1].data["before"] == {"default": {"email": EVERYONE}}
    assert events[1].data["after"] == {"default": {"email": VIP_TEXT}}
    assert events[1].data["faq_url_before"] == "" and events[1].data["faq_url_after"] == FAQ
    assert events[1].actor == owner and events[1].object_id == str(second.pk)

    # the same text again makes no version; emptying the step brings the built-in text back
    assert edit.save_step("update_48h", owner, form(default=VIP_TEXT, faq_url=FAQ)).version == second.version
    cleared = edit.save_step("update_48h", owner, form(faq_url=FAQ))
    assert "update_48h" not in cleared.cadence_wording


@pytest.mark.parametrize(
    ("step", "data", "refusal"),
    [
        ("update_48h", form(default="Hi {first_nme}, {cancel_link}"), "uses {first_nme}: no such placeholder"),
        ("update_48h", form(vip="Hi {alternative}, {cancel_link}"), "only the day 7: an in-stock alternative"),
        ("update_48h", form(default="Hi, FAQ {faq_link} {cancel_link}"), "only the first-time buyers"),
        ("update_48h", form(default="Hi {first_name}, all is well."), "must include {cancel_link}"),
        ("update_day14", form(default="Hi {first_name}, still waiting."), "this step offers cancellation"),
        ("update_48h", form(first_order="Welcome! {cancel_link}", faq_url=FAQ), "must include {faq_link}"),
        ("update_48h", form(first_order=FIRST), "Give the FAQ address"),
        ("update_day7", form(alternative="We have a swap. {cancel_link}"), "name the alternative with {alternative}"),
        ("update_48h", form(default="It ships on March 5. {cancel_link}"), 'one exact date ("March 5")'),
        ("update_48h", form(default="Delivery is guaranteed. {cancel_link}"), 'forbidden phrase "guaranteed"'),
        ("update_48h", form(default="Good news: it has shipped! {cancel_link}"), "a label alone is not a shipment"),
        ("update_48h", form(default=("Subject only", "")), "A subject alone is not used"),
        ("update_48h", form(default=" ".join(["word"] * 160) + " {cancel_link}"), "the limit for email is 150"),
        ("update_48h", {**form(), "default-sms": "Hi " * 60 + "{cancel_link}"}, "the limit for sms is 50"),
        ("update_48h", form(default=EVERYONE, faq_url="not a url"), "must be a full web address"),
    ],
)
def test_a_wording_that_breaks_a_rule_is_refused_and_nothing_is_saved(owner, policy, step, data, refusal):
    with pytest.raises(ValidationError) as refused:
        edit.save_step(step, owner, data)
    assert any(refusal in message for message in refused.value.messages), refused.value.messages
    assert StorePolicy.objects.current().version == policy.version
    assert not AuditEvent.objects.filter(action="policy.wording_changed").exists()


def test_only_an_owner_saves_and_a_stale_form_is_refused(owner, support, policy):
    with pytest.raises(PermissionDenied):
        edit.save_step("update_48h", support, form(default=EVERYONE))
    edit.save_step("update_48h", owner, form(default=EVERYONE))
    with pytest.raises(ValidationError, match="changed while you typed"):
        edit.save_step("update_48h", owner, form(default=VIP_TEXT), base_version=policy.version)


# --------------------------------------------------------------------------- the pages


def test_the_page_lists_every_step_with_its_wording_in_a_fixed_number_of_queries(
    owner, owner_client, policy, django_assert_num_queries
):
    edit.save_step("update_48h", owner, form(default=EVERYONE, vip=VIP_TEXT))
    # session, user, groups (the role), the current policy
    with django_assert_num_queries(4):
        response = owner_client.get(reverse("packets:policy-wording"))
    page = response.content.decode()
    assert response.status_code == 200
    for step in policy.cadence:
        assert step["label"] in page
    assert "thank you for ordering again" in page and "The built-in text." in page
    assert reverse("packets:policy-wording") in page  # the owner's nav links it

    with django_assert_num_queries(4):
        response = owner_client.get(reverse("packets:policy-wording-edit", args=["update_day7"]))
    page = response.content.decode()
    assert response.status_code == 200 and 'name="alternative-email"' in page and "Sam" in page


def test_support_is_refused_the_page_and_the_refusal_is_audited(support_client, support):
    assert support_client.get(reverse("packets:policy-wording")).status_code == 403
    url = reverse("packets:policy-wording-edit", args=["update_48h"])
    assert support_client.post(url, form(default=EVERYONE)).status_code == 403
    assert AuditEvent.objects.filter(action="access.refused", actor=support).count() == 2
    assert "/policy/wording/" not in support_client.get(reverse("packets:case-list")).content.decode()


def test_the_live_check_names_the_problem_and_previews_the_text(owner_client):
    url = reverse("packets:policy-wording-check", args=["update_48h"])
    response = owner_client.post(url, {**form(vip="Hi {firstname}! {cancel_link}"), "variant": "vip"})
    assert response.status_code == 200
    assert "uses {firstname}: no such placeholder" in response.content.decode()

    response = owner_client.post(url, {**form(vip=VIP_TEXT), "variant": "vip"})
    page = response.content.decode()
    assert "data-guidelines-ok" in page and "Hi Sam, thank you for ordering again." in page
    assert f"{settings.SITE_URL}/o/" in page


def test_a_refused_save_shows_the_text_again_with_its_errors(owner_client, policy):
    url = reverse("packets:policy-wording-edit", args=["update_48h"])
    typed = "Delivery is guaranteed. {cancel_link}"
    response = owner_client.post(url, {**form(default=typed), "version": policy.version})
    page = html.unescape(response.content.decode())
    assert response.status_code == 400 and 'forbidden phrase "guaranteed"' in page and typed in page
    response = owner_client.post(url, {**form(default=EVERYONE), "version": policy.version})
    assert response.status_code == 302 and StorePolicy.objects.current().cadence_wording["update_48h"]
    assert owner_client.get(reverse("packets:policy-wording-edit", args=["nope"])).status_code == 404


def test_the_admin_shows_the_wording_but_leaves_its_editing_to_the_checked_page(owner, client, policy):
    owner.is_staff = owner.is_superuser = True
    owner.save(update_fields=["is_staff", "is_superuser"])
    client.force_login(owner)
    saved = edit.save_step("update_48h", owner, form(default=EVERYONE))
    response = client.get(reverse("admin:backorders_storepolicy_change", args=[saved.pk]))
    page = html.unescape(response.content.decode())
    assert response.status_code == 200 and "still on backorder" in page
    assert 'name="cadence_wording"' not in page
