"""Customer links are rendered as the site is when a message is approved and sent, not when drafted;
customer mail comes from the store (its name and address), never from the software."""

from __future__ import annotations

import pytest
from django.utils import timezone

from packets.models import Message
from packets.notify.cadence import draft_due_messages
from packets.notify.links import read_token
from packets.notify.messaging import approve_message
from packets.notify.tasks import send_message
from tests import factories
from tests.loopback import loopback_smtp  # noqa: F401

OLD_SITE = "http://127.0.0.1:8000"
NEW_SITE = "https://desk.example.com"


def _draft_under_old_address(settings) -> Message:
    settings.SITE_URL = OLD_SITE
    line = factories.OrderLineFactory(state="backordered", backordered_at=timezone.now())
    draft_due_messages()
    draft = Message.objects.get(order_line=line)
    assert f"{OLD_SITE}/o/" in draft.body and not draft.guideline_issues
    settings.SITE_URL = NEW_SITE
    return draft


@pytest.mark.django_db
def test_a_draft_made_under_an_earlier_site_address_is_approved_with_todays_link(settings, support, policy):
    draft = _draft_under_old_address(settings)

    approve_message(draft.pk, support)  # before: refused for "a missing cancel link"

    draft.refresh_from_db()
    assert draft.status == "queued" and draft.guideline_issues == []
    assert OLD_SITE not in draft.body
    link = next(word for word in draft.body.split() if word.startswith(f"{NEW_SITE}/o/"))
    assert read_token(link.removeprefix(f"{NEW_SITE}/o/").rstrip("/")) == draft.order_id


@pytest.mark.django_db
def test_a_queued_message_goes_out_with_the_link_of_the_site_as_it_is_at_send_time(
    settings,
    support,
    policy,
    loopback_smtp,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    settings.SITE_URL = OLD_SITE
    line = factories.OrderLineFactory(state="backordered", backordered_at=timezone.now())
    draft_due_messages()
    draft = Message.objects.get(order_line=line)
    with django_capture_on_commit_callbacks(execute=False):
        approve_message(draft.pk, support)  # approved while the old address held
    settings.SITE_URL = NEW_SITE  # the site moved before the worker got to it

    assert send_message(draft.pk).startswith("sent as")

    [mail] = loopback_smtp.messages
    assert f"{NEW_SITE}/o/" in mail.body and OLD_SITE not in mail.body
    draft.refresh_from_db()
    assert f"{NEW_SITE}/o/" in draft.body and OLD_SITE not in draft.body  # the record shows what went out


@pytest.mark.django_db
def test_a_draft_that_never_had_a_link_is_still_refused(settings, support, policy):
    from django.core.exceptions import ValidationError

    line = factories.OrderLineFactory(state="backordered", backordered_at=timezone.now())
    draft_due_messages()
    draft = Message.objects.get(order_line=line)
    Message.objects.filter(pk=draft.pk).update(body="Your item is still on backorder.")
    with pytest.raises(ValidationError, match="link where the customer can cancel"):
        approve_message(draft.pk, support)


@pytest.mark.django_db
def test_customer_mail_comes_from_the_store_named_in_the_configuration(
    settings,
    support,
    policy,
    loopback_smtp,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    from email.utils import formataddr, parseaddr

    settings.STORE_NAME = "Maple & Moss Home"
    settings.DEFAULT_FROM_EMAIL = formataddr((settings.STORE_NAME, "orders@maple-moss.example"))
    line = factories.OrderLineFactory(state="backordered", backordered_at=timezone.now())
    draft_due_messages()
    draft = Message.objects.get(order_line=line)
    with django_capture_on_commit_callbacks(execute=False):
        approve_message(draft.pk, support)
    send_message(draft.pk)

    [mail] = loopback_smtp.messages
    assert parseaddr(mail.message["From"]) == ("Maple & Moss Home", "orders@maple-moss.example")
    assert mail.body.rstrip().endswith("Maple & Moss Home")
    assert "Backorder Desk" not in mail.content.decode()
