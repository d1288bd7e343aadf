"""Staff write: a decision that tells the customer something opens a draft, drafts are edited before
approval (audited, checked as typed and at approval), and people reply from the case page."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from packets import accept
from packets import decisions as verbs
from packets.models import AuditEvent, Case, Decision, Message
from packets.notify import compose
from packets.notify.messaging import NoLongerADraft, approve_message
from tests import factories
from tests.packets.packet_content import case_with_packet, contract_content

pytestmark = pytest.mark.django_db


def backorder_case(content=None, **case_fields):
    """A backorder of one $40.00 mug on order, its packet recommending ``content``'s action."""
    mug = factories.ProductFactory(title="Blue mug", price=Decimal("40.00"))
    order = factories.OrderFactory(customer=factories.CustomerFactory(name="Rosa Diaz", email="rosa@example.com"))
    factories.OrderLineFactory(order=order, product=mug, quantity=2)
    case, packet = case_with_packet(content, order=order, product=mug, **case_fields)
    return case, packet


def offer_content(sku: str):
    return contract_content(
        recommendation={"action": "offer_replacement", "reason": "A similar mug is in stock."},
        options=[
            {
                "action": "offer_replacement",
                "label": f"Offer {sku} (Green mug) instead",
                "cost": "36.00",
                "margin_impact": "0.00",
                "shipping_days_difference": -10,
                "quality_risk": "A different item: Green mug.",
                "needs_customer_consent": True,
                "needs_owner": True,
                "notes": "",
            }
        ],
    )


def customer_drafts(case) -> list[Message]:
    return list(case.messages.filter(status=Message.Status.DRAFT, audience=Message.Audience.CUSTOMER))


# --------------------------------------------------------------------------- decisions open drafts


def test_message_customer_drafts_an_update_from_the_packet_that_keeps_the_guidelines(owner):
    case, _ = backorder_case()

    verbs.decide(case.pk, owner, action=Decision.Action.MESSAGE_CUSTOMER, note="Tell her where it stands.")

    [draft] = customer_drafts(case)
    assert draft.step == compose.UPDATE and draft.to == "rosa@example.com"
    assert draft.body.startswith("Hi Rosa,") and case.order.number in draft.body
    assert f"{settings.SITE_URL}/o/" in draft.body  # the cancel link every backorder update carries
    assert draft.guideline_issues == []
    assert AuditEvent.objects.filter(action="message.drafted", object_id=str(draft.pk), actor=owner).exists()

    # a second "message customer" while the first draft waits opens no second draft
    verbs.decide(
        case.pk, owner, action=Decision.Action.MESSAGE_CUSTOMER, note="Again.", replaces=case.decisions.get().pk
    )
    assert len(customer_drafts(case)) == 1


def test_offer_replacement_drafts_the_offer_with_its_price_and_how_to_agree(owner):
    green = factories.ProductFactory(sku="MUG-GREEN", title="Green mug", price=Decimal("45.50"))
    case, _ = backorder_case(offer_content(green.sku))

    verbs.decide(case.pk, owner, action=Decision.Action.OFFER_REPLACEMENT, note="Offer the green one.")

    [draft] = customer_drafts(case)
    assert draft.step == compose.OFFER
    assert "Green mug" in draft.body
    assert "$11.00 more" in draft.body  # (45.50 - 40.00) x 2 mugs, what the customer pays on top
    assert "reply YES" in draft.body and f"{settings.SITE_URL}/o/" in draft.body
    assert draft.guideline_issues == []


def test_a_replacement_that_costs_the_customer_nothing_says_so():
    cheaper = factories.ProductFactory(sku="MUG-GREY", title="Grey mug", price=Decimal("30.00"))
    case, packet = backorder_case(offer_content(cheaper.sku))

    offer = compose.replacement_offer(case, packet.content)

    assert offer.product == cheaper and offer.extra == Decimal("0")
    _, body = compose._render(compose.OFFER, case, offer=offer)
    assert "at no extra cost to you" in body


def test_accepting_an_offer_approves_the_drafted_offer_and_drops_the_caveat(owner, owner_client):
    green = factories.ProductFactory(sku="MUG-GREEN", title="Green mug", price=Decimal("40.00"))
    case, packet = backorder_case(offer_content(green.sku))
    caveat = "The update does not offer the replacement"

    page = owner_client.get(reverse("packets:case-detail", args=[case.pk]) + "?accept=1").content.decode()
    assert caveat in page and "data-draft-offer" in page

    response = owner_client.post(reverse("packets:case-draft-offer", args=[case.pk]))
    assert response.status_code == 302
    [offer] = customer_drafts(case)
    page = owner_client.get(reverse("packets:case-detail", args=[case.pk]) + "?accept=1").content.decode()
    assert caveat not in page and "data-draft-offer" not in page
    acceptance = accept.acceptance_for(case)
    assert acceptance.offer_drafted and acceptance.offer_to_make == ""

    accept.accept(case.pk, owner, packet_version=packet.version, message_ids=[offer.pk])

    offer.refresh_from_db()
    assert offer.status == Message.Status.QUEUED  # approved with the decision, in the same step
    assert case.messages.filter(step=compose.OFFER).count() == 1  # the decision drafted no second one


def test_without_a_replacement_in_stock_no_offer_is_drafted(owner_client):
    case, _ = backorder_case(offer_content("NO-SUCH-SKU"))

    response = owner_client.post(reverse("packets:case-draft-offer", args=[case.pk]), follow=True)

    assert "The packet offers no replacement in stock" in response.content.decode()
    assert customer_drafts(case) == []


# --------------------------------------------------------------------------- stale tracking


def stale_case(category: str, **shipment_fields):
    order = factories.OrderFactory(customer=factories.CustomerFactory(name="Lee Park"))
    factories.OrderLineFactory(order=order)
    shipment = factories.ShipmentFactory(order=order, **shipment_fields)
    content = contract_content()
    case, packet = case_with_packet(
        content, order=order, shipment=shipment, kind=Case.Kind.STALE_TRACKING, category=category
    )
    return case, packet


def test_a_stale_label_gets_what_we_know_what_we_do_and_when_we_write_never_shipped(owner):
    case, _ = stale_case(Case.Category.LABEL_CREATED_ONLY)

    verbs.decide(case.pk, owner, action=Decision.Action.MESSAGE_CUSTOMER, note="Tell him the label is all we have.")

    [draft] = customer_drafts(case)
    assert draft.step == compose.TRACKING_UPDATE
    assert "What we know: a shipping label was made with UPS" in draft.body
    assert "What we are doing:" in draft.body and "We will write again within 3 days" in draft.body
    assert "shipped" not in draft.body.lower() and "on its way" not in draft.body.lower()
    assert draft.guideline_issues == []


def test_editing_a_label_only_update_to_say_shipped_is_caught_as_typed_and_at_approval(owner, owner_client):
    case, _ = stale_case(Case.Category.LABEL_CREATED_ONLY)
    verbs.decide(case.pk, owner, action=Decision.Action.MESSAGE_CUSTOMER, note="Update.")
    [draft] = customer_drafts(case)
    shipped = draft.body.replace("What we know:", "Good news: your parcel has shipped. What we know:")

    partial = owner_client.post(reverse("packets:message-check", args=[draft.pk]), {"subject": "x", "body": shipped})
    assert "a label alone is not a shipment" in partial.content.decode()

    compose.edit_draft(draft.pk, owner, subject=draft.subject, body=shipped)
    with pytest.raises(ValidationError, match="a label alone is not a shipment"):
        approve_message(draft.pk, owner)


# --------------------------------------------------------------------------- editing drafts


def test_an_edit_is_audited_with_the_text_before_and_after(support):
    case, _ = backorder_case()
    draft = factories.MessageFactory(case=case, order=case.order, step="update_48h")
    before = draft.body
    after = before.replace("Your order is waiting on stock.", "Your mugs are waiting on stock.")

    compose.edit_draft(draft.pk, support, subject="About your mugs", body=after)

    draft.refresh_from_db()
    assert (draft.subject, draft.body) == ("About your mugs", after)
    event = AuditEvent.objects.get(action="message.edited", object_id=str(draft.pk))
    assert event.actor == support
    assert event.data["before"] == {"subject": "An update on your order", "body": before}
    assert event.data["after"] == {"subject": "About your mugs", "body": after}


def test_an_edit_that_breaks_a_guideline_is_kept_with_its_issues_and_cannot_be_approved(owner):
    case, _ = backorder_case()
    draft = factories.MessageFactory(case=case, order=case.order, step="update_48h")

    compose.edit_draft(draft.pk, owner, subject="x", body="We apologize for the inconvenience. It ships on March 3.")

    draft.refresh_from_db()
    issues = " ".join(draft.guideline_issues)
    assert "forbidden phrase" in issues and "one exact date" in issues and "cancel" in issues
    with pytest.raises(ValidationError):
        approve_message(draft.pk, owner)
    assert Message.objects.get(pk=draft.pk).status == Message.Status.DRAFT


def test_only_drafts_are_edited_and_only_by_staff(owner, outsider):
    case, _ = backorder_case()
    draft = factories.MessageFactory(case=case, order=case.order, step="update_48h")
    with pytest.raises(PermissionDenied):
        compose.edit_draft(draft.pk, outsider, subject="x", body="Hello")
    with pytest.raises(ValidationError, match="empty"):
        compose.edit_draft(draft.pk, owner, subject="x", body="   ")
    approve_message(draft.pk, owner)
    with pytest.raises(NoLongerADraft):
        compose.edit_draft(draft.pk, owner, subject="x", body="Changed after approval")
    assert not AuditEvent.objects.filter(action="message.edited").exists()


def test_the_edit_form_saves_and_a_too_long_text_is_a_400_that_keeps_what_was_typed(owner_client):
    case, _ = backorder_case()
    draft = factories.MessageFactory(case=case, order=case.order, step="update_48h")
    url = reverse("packets:message-edit", args=[draft.pk])
    new_body = draft.body + " Thank you for waiting."

    response = owner_client.post(url, {"subject": "Still waiting", "body": new_body})
    assert response.status_code == 302
    assert Message.objects.get(pk=draft.pk).body == new_body

    typed = "word " * 1100  # over the 5,000 characters a draft may hold
    response = owner_client.post(url, {"subject": "Still waiting", "body": typed})
    assert response.status_code == 400
    assert "word word" in response.content.decode()
    assert Message.objects.get(pk=draft.pk).body == new_body


def test_the_case_page_offers_each_draft_for_editing_with_a_live_check_and_no_inline_script(owner_client):
    case, _ = backorder_case()
    draft = factories.MessageFactory(case=case, order=case.order, step="update_48h")

    html = owner_client.get(reverse("packets:case-detail", args=[case.pk])).content.decode()

    assert f'data-edit-draft="{draft.pk}"' in html
    assert f'hx-post="{reverse("packets:message-check", args=[draft.pk])}"' in html
    assert 'hx-trigger="input changed delay:400ms"' in html
    assert "<script>" not in html and "onclick=" not in html and "hx-on" not in html


def test_the_live_check_is_for_staff_only(client, outsider):
    case, _ = backorder_case()
    draft = factories.MessageFactory(case=case, order=case.order)
    client.force_login(outsider)
    assert client.post(reverse("packets:message-check", args=[draft.pk]), {"body": "x"}).status_code == 403


# --------------------------------------------------------------------------- replies and the thread


def test_a_reply_from_the_case_page_is_a_draft_in_the_thread_after_the_customer_words(owner_client, owner):
    case, _ = backorder_case()
    earlier = timezone.now() - timezone.timedelta(hours=3)
    sent = factories.MessageFactory(
        case=case, order=case.order, status=Message.Status.SENT, approved_at=earlier, sent_at=earlier
    )
    theirs = factories.InboundMessageFactory(
        case=case, order=case.order, body="Any news on my mugs?", received_at=earlier + timezone.timedelta(hours=1)
    )
    subject, body = compose.reply_start(case)
    body = body.replace("Hi Rosa,\n\n", "Hi Rosa,\n\nNo news from the supplier yet; we will write within 3 days.\n\n")

    response = owner_client.post(reverse("packets:case-reply", args=[case.pk]), {"subject": subject, "body": body})

    assert response.status_code == 302
    [reply] = customer_drafts(case)
    assert reply.step == compose.REPLY and reply.to == "rosa@example.com" and reply.guideline_issues == []
    html = owner_client.get(reverse("packets:case-detail", args=[case.pk])).content.decode()
    thread = html[html.index('id="conversation"') :]
    assert (
        thread.index(sent.body[:30]) < thread.index("Any news on my mugs?") < thread.index("No news from the supplier")
    )
    assert theirs.body in thread
    approve_message(reply.pk, owner)  # the reply goes out as any draft does: approved first


def test_a_reply_without_the_cancel_link_is_drafted_with_the_issue_and_checked_as_typed(owner_client):
    case, _ = backorder_case()

    partial = owner_client.post(reverse("packets:case-reply-check", args=[case.pk]), {"body": "Hi Rosa, soon."})
    assert "must include the link where the customer can cancel" in partial.content.decode()
    ok = owner_client.post(reverse("packets:case-reply-check", args=[case.pk]), {"body": compose.reply_start(case)[1]})
    assert "data-guidelines-ok" in ok.content.decode()

    owner_client.post(reverse("packets:case-reply", args=[case.pk]), {"subject": "Re", "body": "Hi Rosa, soon."})
    [reply] = customer_drafts(case)
    assert reply.guideline_issues  # kept, shown, and approval refuses it until edited


def test_an_empty_reply_is_a_400_and_drafts_nothing(owner_client):
    case, _ = backorder_case()
    response = owner_client.post(reverse("packets:case-reply", args=[case.pk]), {"subject": "Re", "body": ""})
    assert response.status_code == 400
    assert customer_drafts(case) == []


def test_a_customer_who_cannot_be_written_to_gets_no_reply_draft(owner):
    case, _ = backorder_case()
    case.order.customer.erased_at = timezone.now()
    case.order.customer.save()
    with pytest.raises(ValidationError, match="no customer who can be written to"):
        compose.reply(case.pk, owner, subject="Re", body="Hello")


# --------------------------------------------------------------------------- stale parcels, after each sweep


def test_each_stale_parcel_gets_one_update_drafted_until_it_is_due_again(owner):
    from packets.notify.tracking_updates import draft_tracking_updates

    label_only, _ = stale_case(Case.Category.LABEL_CREATED_ONLY)
    stuck, _ = stale_case(Case.Category.STALE_IN_TRANSIT, first_scan_at=timezone.now() - timezone.timedelta(days=9))
    resolved, _ = stale_case(Case.Category.CARRIER_EXCEPTION)
    Case.objects.filter(pk=resolved.pk).update(status=Case.Status.RESOLVED, resolved_at=timezone.now())
    now = timezone.now()

    assert draft_tracking_updates(now) == 2
    assert draft_tracking_updates(now) == 0  # the drafts wait: nothing more

    [label_draft] = customer_drafts(label_only)
    assert label_draft.step == compose.TRACKING_UPDATE and label_draft.guideline_issues == []
    assert "has not scanned the parcel yet" in label_draft.body and "shipped" not in label_draft.body.lower()
    [stuck_draft] = customer_drafts(stuck)
    assert "shown no new scan of the parcel for a while" in stuck_draft.body
    assert customer_drafts(resolved) == []
    assert AuditEvent.objects.filter(action="message.drafted", object_id=str(label_draft.pk)).exists()

    approve_message(label_draft.pk, owner)
    Message.objects.filter(pk=label_draft.pk).update(status=Message.Status.SENT, sent_at=now)
    assert draft_tracking_updates(now + timezone.timedelta(days=1)) == 0  # written lately
    assert draft_tracking_updates(now + timezone.timedelta(days=4)) == 1  # due again: we said within 3 days
    assert label_only.messages.filter(step=compose.TRACKING_UPDATE).count() == 2


def test_the_sweep_drafts_stale_parcel_updates_after_it_reconciles(monkeypatch):
    from packets import sweep

    called = []
    monkeypatch.setattr("packets.notify.tracking_updates.draft_tracking_updates", called.append)
    assert "packets.notify.tracking_updates.draft_tracking_updates" in sweep.AFTER_SWEEP
    sweep.run_sweep()
    assert len(called) == 1


# --------------------------------------------------------------------------- the cadence and these drafts


def test_the_cadence_cancels_its_own_updates_for_a_line_that_stopped_waiting_but_not_a_persons_reply(owner):
    from backorders.models import OrderLine
    from packets.notify.cadence import draft_due_messages

    line = factories.BackorderedLineFactory()
    case, _ = case_with_packet(contract_content(), order=line.order, product=line.product)
    update = factories.MessageFactory(case=case, order=line.order, order_line=line, step="update_48h")
    reply = compose.reply(case.pk, owner, subject="Re", body=compose.reply_start(case)[1].replace(",\n", ", thanks.\n"))
    OrderLine.objects.filter(pk=line.pk).update(state=OrderLine.State.CANCELLED)

    draft_due_messages(timezone.now())

    assert Message.objects.get(pk=update.pk).status == Message.Status.CANCELLED
    assert Message.objects.get(pk=reply.pk).status == Message.Status.DRAFT  # a person cancels it, if anyone


def test_a_replacement_offer_for_a_discontinued_item_stays_while_date_updates_go(owner):
    from backorders.models import Product
    from packets.notify.cadence import draft_due_messages

    green = factories.ProductFactory(sku="MUG-GREEN", title="Green mug")
    line = factories.BackorderedLineFactory()
    case, _ = case_with_packet(offer_content(green.sku), order=line.order, product=line.product)
    offer = compose.draft_offer(case.pk, owner)
    update = factories.MessageFactory(case=case, order=line.order, order_line=line, step="update_48h")
    Product.objects.filter(pk=line.product_id).update(status=Product.Status.DISCONTINUED)

    draft_due_messages(timezone.now())

    assert Message.objects.get(pk=update.pk).status == Message.Status.CANCELLED  # it held out a date
    assert Message.objects.get(pk=offer.pk).status == Message.Status.DRAFT


def test_a_stale_parcels_update_is_about_the_order_so_the_cadence_leaves_it_be(owner):
    from backorders.models import OrderLine
    from packets.notify.cadence import draft_due_messages

    case, _ = stale_case(Case.Category.LABEL_CREATED_ONLY)
    OrderLine.objects.filter(order=case.order).update(
        state=OrderLine.State.SHIPPED, backordered_at=timezone.now() - timezone.timedelta(days=9)
    )
    verbs.decide(case.pk, owner, action=Decision.Action.MESSAGE_CUSTOMER, note="Update.")
    [draft] = customer_drafts(case)
    assert draft.order_line_id is None

    draft_due_messages(timezone.now())

    assert Message.objects.get(pk=draft.pk).status == Message.Status.DRAFT


def test_a_customer_on_chargeback_watch_elsewhere_gets_drafts_held_for_the_owner(owner):
    from packets.notify.tracking_updates import draft_tracking_updates

    case, _ = stale_case(Case.Category.LABEL_CREATED_ONLY)
    other_order = factories.OrderFactory(customer=case.order.customer)
    case_with_packet(contract_content(risk_level="chargeback_watch"), order=other_order)

    draft_tracking_updates(timezone.now())
    [update] = customer_drafts(case)
    reply = compose.reply(case.pk, owner, subject="Re", body="Hi Lee, we are on it and will write within 3 days.")

    assert update.needs_owner and reply.needs_owner
    assert "only the owner approves it" in update.owner_reason


def test_the_compose_pages_pin_their_queries(owner_client, django_assert_num_queries):
    case, _ = backorder_case()
    draft = factories.MessageFactory(case=case, order=case.order, step="update_48h")
    # session, user, roles; the message with its case and order
    with django_assert_num_queries(4):
        assert owner_client.get(reverse("packets:message-edit", args=[draft.pk])).status_code == 200
    # session, user, roles; the case with its order, customer and shipment
    with django_assert_num_queries(4):
        assert owner_client.get(reverse("packets:case-reply", args=[case.pk])).status_code == 200


def test_an_edit_that_takes_the_range_out_no_longer_counts_as_telling_it(owner):
    case, _ = backorder_case()
    body = f"It should ship between March 2 and March 9. Cancel at no cost: {settings.SITE_URL}/o/t/"
    draft = factories.MessageFactory(
        case=case, order=case.order, step="update_48h", body=body, eta_told="2027-03-02..2027-03-09"
    )

    compose.edit_draft(draft.pk, owner, subject="x", body=body.replace("Cancel", "You can cancel"))
    assert Message.objects.get(pk=draft.pk).eta_told == "2027-03-02..2027-03-09"  # still named

    compose.edit_draft(
        draft.pk,
        owner,
        subject="x",
        body=f"We are waiting on our supplier. Cancel at no cost: {settings.SITE_URL}/o/t/",
    )
    assert Message.objects.get(pk=draft.pk).eta_told == ""
    last = AuditEvent.objects.filter(action="message.edited").latest("id")
    assert last.data["eta_told_before"] == "2027-03-02..2027-03-09"
