"""Slack both ways: the owner's alerts go out with buttons, and a signed "Accept" press comes back.

Slack's Web API is a real HTTP server on loopback (``tests/packets/slack_fakes.py``) answering
``chat.postMessage``, ``chat.update`` and ``chat.postEphemeral`` in Slack's JSON shape and
checking the bearer token; presses are posted to the desk's endpoint signed with slack-sdk's own
signer, as Slack signs them.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from packets.integrations.slack import alerts, interactions, posting
from packets.models import AuditEvent, Case, Decision, Message, SlackInteraction, SlackLink, SlackPost
from tests import factories
from tests.packets.packet_content import case_with_packet, contract_content, option
from tests.packets.slack_fakes import OWNER_CHANNEL, TOKEN, press_payload, signed_press, slack  # noqa: F401
from tests.task_queue import run_queued_tasks

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

URL = "/integrations/slack/interactions/"


def owner_only_case(recommendation: str = "wait"):
    """A case on owner-only risk, its packet recommending ``recommendation``, and a clean draft."""
    content = contract_content(
        risk_level="owner_only",
        recommendation={"action": recommendation, "reason": "The supplier confirmed a range; the customer is a VIP."},
        options=[option("wait", "Wait for the restock"), option("refund", "Refund the mugs", cost="48.00")],
    )
    case, packet = case_with_packet(content)
    # the store behind this case is not in the test: keep the queued refresh from resolving it
    Case.objects.filter(pk=case.pk).update(dedupe_key=f"slack-test:case:{case.pk}")
    draft = factories.MessageFactory(case=case, order=case.order, step="update_48h")
    return case, packet, draft


def link(user, slack_user_id: str) -> None:
    call_command("link_slack_user", user.username, slack_user_id, stdout=StringIO())


def post_press(client, payload: dict, **headers):
    body, signed = signed_press(payload)
    return client.post(URL, data=body, content_type="application/x-www-form-urlencoded", headers={**signed, **headers})


def posted_alert(slack, case):  # noqa: F811
    """Post the owner's alerts through the worker; the one Slack got for ``case`` and its ts."""
    alerts.post_owner_alerts()
    run_queued_tasks()
    post = SlackPost.objects.get(case=case, method="chat.postMessage")
    assert post.status == SlackPost.Status.SENT, post.error
    return post.request, post.ts


# --------------------------------------------------------------------------- the owner's alerts


@pytest.mark.django_db(transaction=True)
def test_a_case_that_needs_the_owner_gets_one_alert_per_state_with_its_packet_and_buttons(slack):  # noqa: F811
    case, packet, draft = owner_only_case()
    quiet, _ = case_with_packet(contract_content(order_number="#2001"))  # customer update risk, no deadline

    assert alerts.post_owner_alerts() == 1
    run_queued_tasks()
    [call] = slack.calls_to("chat.postMessage")
    assert call["headers"]["authorization"] == f"Bearer {TOKEN}"
    body = call["body"]
    assert body["channel"] == OWNER_CHANNEL and "risk is owner-only" in body["text"]
    text = json.dumps(body["blocks"], ensure_ascii=False)
    assert "waits on MUG-SAGE" in text  # the packet's summary
    assert "Recommended: Wait." in text and "the customer is a VIP" in text  # recommendation and reason
    assert "Owner-only" in text and "Asked once where the order is." in text  # risk and facts
    assert "#1042 · $84.20" in text  # the order, its value in the store's money format
    assert "Accepting also approves 1 drafted customer message" in text
    [actions] = [b for b in body["blocks"] if b["type"] == "actions"]
    accept, open_ = actions["elements"]
    assert accept["text"]["text"] == "Accept recommendation"
    assert json.loads(accept["value"]) == {"case": case.pk, "version": packet.version, "messages": [draft.pk]}
    assert open_["text"]["text"] == "Open" and open_["url"].endswith(f"/cases/{case.pk}/")
    post = SlackPost.objects.get()
    assert (post.status, post.channel) == ("sent", OWNER_CHANNEL) and (OWNER_CHANNEL, post.ts) in slack.messages
    assert not SlackPost.objects.filter(case=quiet).exists()

    assert alerts.post_owner_alerts() == 0, "the same state is not posted again on the next sweep"
    Case.objects.filter(pk=case.pk).update(status=Case.Status.AWAITING_OWNER)
    assert alerts.post_owner_alerts() == 1, "a new state of the case is"


def test_a_reply_deadline_near_needs_the_owner_and_a_far_one_does_not(slack, settings):  # noqa: F811
    settings.SLACK_REPLY_DUE_WITHIN_HOURS = 4
    near, _ = case_with_packet(contract_content(order_number="#3001"), reply_due_at=timezone.now() + timedelta(hours=2))
    _far, _ = case_with_packet(
        contract_content(order_number="#3002"), reply_due_at=timezone.now() + timedelta(hours=20)
    )

    alerts.post_owner_alerts()

    [post] = SlackPost.objects.all()
    assert post.case_id == near.pk and "must have an answer by" in post.request["text"]
    assert post.state_key.endswith(":reply_due")


def test_no_alert_without_a_token_and_a_channel(settings):
    owner_only_case()
    settings.SLACK_BOT_TOKEN, settings.SLACK_OWNER_CHANNEL = "", "C1"
    assert alerts.post_owner_alerts() == 0
    settings.SLACK_BOT_TOKEN, settings.SLACK_OWNER_CHANNEL = TOKEN, ""
    assert alerts.post_owner_alerts() == 0
    assert not SlackPost.objects.exists()


def test_slack_refusing_is_retried_after_its_wait_and_its_own_error_is_kept(slack):  # noqa: F811
    owner_only_case()
    alerts.post_owner_alerts()
    post = SlackPost.objects.get()
    slack.fail_next("ratelimited", retry_after=120)

    assert posting.send_post(post.pk).startswith("retry at")
    post.refresh_from_db()
    assert post.status == "pending" and post.error == "Slack answered HTTP 429"
    assert post.next_attempt_at >= timezone.now() + timedelta(seconds=110), "never sooner than Retry-After"

    SlackPost.objects.filter(pk=post.pk).update(next_attempt_at=timezone.now())
    assert posting.send_post(post.pk) == "sent (chat.postMessage)"
    post.refresh_from_db()
    assert (post.status, post.attempts) == ("sent", 2) and len(slack.calls_to("chat.postMessage")) == 2


def test_a_wrong_token_fails_with_slacks_words(slack, settings):  # noqa: F811
    owner_only_case()
    alerts.post_owner_alerts()
    settings.SLACK_BOT_TOKEN = "xoxb-revoked"
    post = SlackPost.objects.get()

    assert posting.send_post(post.pk) == "failed: Slack answered invalid_auth"
    post.refresh_from_db()
    assert post.status == "failed" and post.attempts == 1
    assert AuditEvent.objects.filter(action="slack.failed", case=post.case).exists()


# --------------------------------------------------------------------------- presses coming back


@pytest.mark.django_db(transaction=True)
def test_accept_decides_and_approves_exactly_once_under_retries_and_a_second_press(
    slack,  # noqa: F811
    client,
    owner,
    support,
):
    case, _, draft = owner_only_case()
    link(owner, "U0OWNER01")
    link(support, "U0SUPPORT1")
    alert, ts = posted_alert(slack, case)
    press = press_payload(alert, slack_user_id="U0OWNER01", channel=OWNER_CHANNEL, ts=ts)

    started = time.monotonic()
    response = post_press(client, press)
    assert response.status_code == 200 and time.monotonic() - started < 3
    # Slack did not hear back in time (as far as it knows) and sends the same press again
    assert (
        post_press(client, press, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}).status_code
        == 200
    )
    assert post_press(client, press, **{"X-Slack-Retry-Num": "2"}).status_code == 200
    run_queued_tasks()

    [decision] = Decision.objects.filter(case=case)
    assert (decision.action, decision.status, decision.decided_by) == ("wait", "approved", owner)
    draft.refresh_from_db()
    assert draft.status != Message.Status.DRAFT and draft.approved_by == owner
    assert AuditEvent.objects.filter(case=case, action="case.accepted").count() == 1
    assert AuditEvent.objects.filter(case=case, action="slack.accepted", actor=owner).count() == 1
    [row] = SlackInteraction.objects.all()
    assert (row.status, row.retries_seen, row.user) == ("applied", 2, owner)
    [update] = slack.calls_to("chat.update")
    assert (update["body"]["channel"], update["body"]["ts"]) == (OWNER_CHANNEL, ts)
    shown = json.dumps(slack.messages[(OWNER_CHANNEL, ts)]["blocks"])
    assert "accepted the recommendation: Wait and approved 1 customer message" in shown
    assert "accept_recommendation" not in shown and "open_case" in shown, "the buttons give way; Open stays"

    # someone presses Accept again on the same message: nothing more happens, and they are told who decided
    again = press_payload(alert, slack_user_id="U0SUPPORT1", channel=OWNER_CHANNEL, ts=ts, action_ts="1765000999.1")
    assert post_press(client, again).status_code == 200
    run_queued_tasks()
    assert Decision.objects.filter(case=case).count() == 1
    assert AuditEvent.objects.filter(case=case, action="case.accepted").count() == 1
    [told] = slack.ephemeral
    assert told["user"] == "U0SUPPORT1" and told["text"].startswith("Already decided:")
    assert len(slack.calls_to("chat.update")) == 1, "the message says it once"
    assert (owner.get_full_name() or owner.username) in told["text"]


@pytest.mark.django_db(transaction=True)
def test_support_cannot_accept_what_only_the_owner_may(slack, client, support):  # noqa: F811
    case, _, draft = owner_only_case(recommendation="refund")
    link(support, "U0SUPPORT1")
    alert, ts = posted_alert(slack, case)

    post_press(client, press_payload(alert, slack_user_id="U0SUPPORT1", channel=OWNER_CHANNEL, ts=ts))
    run_queued_tasks()

    assert not Decision.objects.filter(case=case).exists()
    draft.refresh_from_db()
    assert draft.status == Message.Status.DRAFT
    [told] = slack.ephemeral
    assert told["text"] == "Not accepted: Cannot accept in one step: only the owner can accept “Refund”."
    assert not slack.calls_to("chat.update"), "the owner's buttons stay"


@pytest.mark.django_db(transaction=True)
def test_an_unlinked_slack_user_is_told_so_and_nothing_is_decided(slack, client):  # noqa: F811
    case, _, _ = owner_only_case()
    alert, ts = posted_alert(slack, case)

    post_press(client, press_payload(alert, slack_user_id="U0STRANGER", channel=OWNER_CHANNEL, ts=ts))
    run_queued_tasks()

    assert not Decision.objects.exists()
    [told] = slack.ephemeral
    assert (told["channel"], told["user"]) == (OWNER_CHANNEL, "U0STRANGER")
    assert "not linked to a desk user" in told["text"] and "link_slack_user USERNAME U0STRANGER" in told["text"]


def test_a_bad_signature_is_refused_with_the_reason_and_nothing_is_kept(slack, client):  # noqa: F811
    payload = {"type": "block_actions", "user": {"id": "U1"}, "actions": [{"action_id": "accept_recommendation"}]}
    body, headers = signed_press(payload, secret="not-the-signing-secret")

    response = client.post(URL, data=body, content_type="application/x-www-form-urlencoded", headers=headers)

    assert response.status_code == 401
    assert response.content.decode() == "the signature does not match the body and timestamp"
    unsigned = client.post(URL, data=body, content_type="application/x-www-form-urlencoded")
    assert unsigned.status_code == 401 and "X-Slack-Signature" in unsigned.content.decode()
    assert not SlackInteraction.objects.exists()


def test_a_press_older_than_five_minutes_is_refused_as_a_replay(slack, client):  # noqa: F811
    payload = {"type": "block_actions", "user": {"id": "U1"}, "actions": [{"action_id": "accept_recommendation"}]}
    body, headers = signed_press(payload, at=time.time() - 301)

    response = client.post(URL, data=body, content_type="application/x-www-form-urlencoded", headers=headers)

    assert response.status_code == 401 and "stale" in response.content.decode()
    assert not SlackInteraction.objects.exists()


def test_without_the_signing_secret_every_post_is_refused(slack, client, settings):  # noqa: F811
    body, headers = signed_press({"type": "block_actions", "user": {"id": "U1"}, "actions": []})
    settings.SLACK_SIGNING_SECRET = ""
    response = client.post(URL, data=body, content_type="application/x-www-form-urlencoded", headers=headers)
    assert response.status_code == 401 and "SLACK_SIGNING_SECRET is not set" in response.content.decode()


def test_a_signed_post_of_the_wrong_shape_is_a_400_and_open_is_acknowledged(slack, client):  # noqa: F811
    body, headers = signed_press({"type": "block_actions"})  # no user
    response = client.post(URL, data=body, content_type="application/x-www-form-urlencoded", headers=headers)
    assert response.status_code == 400

    opened = {"type": "block_actions", "user": {"id": "U1"}, "actions": [{"action_id": "open_case", "action_ts": "1"}]}
    body, headers = signed_press(opened)
    response = client.post(URL, data=body, content_type="application/x-www-form-urlencoded", headers=headers)
    assert response.status_code == 200 and not SlackInteraction.objects.exists()


def test_the_endpoint_is_the_one_slack_is_given():
    assert reverse("packets:slack-interactions") == URL
    assert getattr(interactions.interaction_endpoint, "csrf_exempt", False)


# --------------------------------------------------------------------------- linking Slack users


def test_link_slack_user_links_a_staff_member_and_refuses_what_cannot_act(owner, support, outsider):
    out = StringIO()
    call_command("link_slack_user", owner.username, "u0owner01", stdout=out)
    assert SlackLink.objects.get(user=owner).slack_user_id == "U0OWNER01"
    assert "Linked" in out.getvalue() and "Owner" in out.getvalue()
    assert AuditEvent.objects.filter(action="slack.linked").count() == 1

    with pytest.raises(CommandError, match="No desk user"):
        call_command("link_slack_user", "nobody", "U0NOBODY1")
    with pytest.raises(CommandError, match="not a Slack member id"):
        call_command("link_slack_user", support.username, "#general")
    with pytest.raises(CommandError, match="not an active owner or support user"):
        call_command("link_slack_user", outsider.username, "U0OUTSIDE1")
    with pytest.raises(CommandError, match="is linked to"):
        call_command("link_slack_user", support.username, "U0OWNER01")

    call_command("link_slack_user", owner.username, "U0OWNER02", stdout=StringIO())  # a new id replaces the old
    assert list(SlackLink.objects.values_list("slack_user_id", flat=True)) == ["U0OWNER02"]
    call_command("link_slack_user", owner.username, "--unlink", stdout=StringIO())
    assert not SlackLink.objects.exists()


def test_the_alert_pass_costs_the_same_few_queries_for_one_case_or_many(slack, django_assert_num_queries):  # noqa: F811
    for n in range(3):
        case, _ = case_with_packet(contract_content(order_number=f"#50{n}", risk_level="owner_only"))
        factories.MessageFactory(case=case, order=case.order, step="update_48h")
    # the cases, their drafts, their newest packets; the open alerts; the states already posted;
    # the insert (in a savepoint), the ids to enqueue
    with django_assert_num_queries(9):
        assert alerts.post_owner_alerts() == 3
    with django_assert_num_queries(5):  # nothing new: no insert
        assert alerts.post_owner_alerts() == 0


def test_the_sweep_posts_the_alerts_after_the_reply_deadlines():
    from packets.sweep import AFTER_SWEEP

    assert AFTER_SWEEP.index("packets.integrations.slack.alerts.post_owner_alerts") > AFTER_SWEEP.index(
        "packets.notify.deadlines.mark_overdue"
    )


def test_a_post_left_sending_by_a_dead_worker_is_sent_again(slack, settings):  # noqa: F811
    owner_only_case()
    alerts.post_owner_alerts()
    post = SlackPost.objects.get()
    long_ago = timezone.now() - timedelta(seconds=int(settings.Q_CLUSTER["retry"]) + 5)
    SlackPost.objects.filter(pk=post.pk).update(status="sending", sending_started_at=long_ago, attempts=1)

    assert posting.retry_due_posts() == 1
    assert posting.send_post(post.pk) == "sent (chat.postMessage)"
    post.refresh_from_db()
    assert (post.status, post.attempts) == ("sent", 2)


@pytest.mark.django_db(transaction=True)
def test_a_press_on_an_older_packet_is_refused_and_says_so(slack, client, owner):  # noqa: F811
    case, packet, _ = owner_only_case()
    link(owner, "U0OWNER01")
    alert, ts = posted_alert(slack, case)
    factories.PacketFactory(case=case, version=packet.version + 1, content=packet.content, risk_level="owner_only")

    post_press(client, press_payload(alert, slack_user_id="U0OWNER01", channel=OWNER_CHANNEL, ts=ts))
    run_queued_tasks()

    assert not Decision.objects.exists()
    [told] = slack.ephemeral
    assert told["text"].startswith("Not accepted: The packet changed while you read it (now version 2)")


@pytest.mark.django_db(transaction=True)
def test_an_alert_whose_case_was_decided_on_the_desk_loses_its_buttons_once(slack, owner):  # noqa: F811
    from packets import accept as verbs

    case, packet, draft = owner_only_case()
    _, ts = posted_alert(slack, case)

    verbs.accept(case.pk, owner, packet_version=packet.version, message_ids=[draft.pk])  # on the case page
    alerts.post_owner_alerts()
    alerts.post_owner_alerts()  # the next sweep: already closed
    run_queued_tasks()

    [update] = slack.calls_to("chat.update")
    assert update["body"]["ts"] == ts and update["body"]["text"].startswith("Decided: ")
    assert "chose “Wait”" in update["body"]["text"]
    shown = json.dumps(slack.messages[(OWNER_CHANNEL, ts)]["blocks"])
    assert "accept_recommendation" not in shown and "open_case" in shown
    assert SlackPost.objects.get(method="chat.postMessage").closed_at is not None


def test_the_admin_lists_slack_posts_presses_and_links(client, django_user_model, owner, slack):  # noqa: F811
    owner_only_case()
    alerts.post_owner_alerts()
    link(owner, "U0OWNER01")
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    for model in ("slackpost", "slackinteraction", "slacklink"):
        response = client.get(f"/admin/packets/{model}/")
        assert response.status_code == 200, model
    assert b"chat.postMessage" in client.get("/admin/packets/slackpost/").content
    assert b"U0OWNER01" in client.get("/admin/packets/slacklink/").content


def test_the_connections_page_shows_the_slack_app_and_tests_its_token(owner_client, slack, settings):  # noqa: F811
    from packets.integrations import connections

    [app] = [c for c in connections.connections() if c.name == "slack-app"]
    details = dict(app.details)
    assert app.configured and details["Owner channel"] == OWNER_CHANNEL
    assert TOKEN not in details["Bot token"] and details["Bot token"].startswith("set")
    assert details["Interactivity URL"].endswith("/integrations/slack/interactions/")

    assert connections.run_test("slack-app") == "Slack knows the bot backorder_desk in Store"
    settings.SLACK_BOT_TOKEN = "xoxb-revoked"
    with pytest.raises(connections.TestFailed, match="invalid_auth"):
        connections.run_test("slack-app")
    response = owner_client.post(reverse("packets:connection-test", args=["slack-app"]), follow=True)
    assert "slack-app: Slack answered invalid_auth" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_erasing_a_customer_shows_their_alert_in_slack_without_them(slack):  # noqa: F811
    customer = factories.CustomerFactory(name="Wilhelmina Quarrington", email="wq@example.org")
    order = factories.OrderFactory(customer=customer)
    case, _ = case_with_packet(
        contract_content(risk_level="owner_only"), order=order, title="Order waits: Wilhelmina Quarrington"
    )
    Case.objects.filter(pk=case.pk).update(dedupe_key=f"slack-test:case:{case.pk}")
    _, ts = posted_alert(slack, case)
    assert "Wilhelmina Quarrington" in slack.messages[(OWNER_CHANNEL, ts)]["text"]

    call_command("erase_customer", "wq@example.org", stdout=StringIO())
    run_queued_tasks()

    shown = slack.messages[(OWNER_CHANNEL, ts)]
    assert "Quarrington" not in json.dumps(shown) and "[erased]" in shown["text"]
    assert "Quarrington" not in json.dumps(list(SlackPost.objects.values_list("request", flat=True)))


def test_a_kept_press_whose_enqueue_was_lost_is_queued_by_the_schedule(settings):
    payload = {"type": "block_actions", "user": {"id": "U1"}, "actions": [{"action_id": "accept_recommendation"}]}
    lost = interactions.keep(payload)
    window = timedelta(seconds=int(settings.Q_CLUSTER["retry"]) + 5)
    SlackInteraction.objects.filter(pk=lost.pk).update(received_at=timezone.now() - window)
    old = interactions.keep({**payload, "trigger_id": "old"})
    SlackInteraction.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(days=2))

    assert interactions.apply_received() == 1
