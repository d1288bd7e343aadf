"""Link a desk user to their Slack user: ``manage.py link_slack_user USERNAME SLACK_USER_ID``.

A button pressed in Slack by that Slack user then acts as this desk user, with this user's role
(owner or support). ``--unlink`` removes the desk user's link.
"""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from backorders.roles import is_staff_member, role_name
from packets.models import AuditEvent, SlackLink

SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")


class Command(BaseCommand):
    help = "Link a desk user (owner or support) to a Slack member id, so their presses in Slack act as them."

    def add_arguments(self, parser):
        parser.add_argument("username", help="The desk user's username.")
        parser.add_argument("slack_user_id", nargs="?", default="", help="Slack's member id, e.g. U024BE7LH.")
        parser.add_argument("--unlink", action="store_true", help="Remove the desk user's Slack link instead.")

    def handle(self, *args, username: str, slack_user_id: str, unlink: bool, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No desk user is called {username!r}.")
        if unlink:
            removed, _ = SlackLink.objects.filter(user=user).delete()
            AuditEvent.record("slack.unlinked", obj=user, summary=f"{username} is no longer linked to a Slack user")
            self.stdout.write(f"{username} is not linked to Slack." if not removed else f"Unlinked {username}.")
            return
        slack_user_id = slack_user_id.strip().upper()
        if not SLACK_USER_ID.match(slack_user_id):
            raise CommandError(
                f"{slack_user_id!r} is not a Slack member id (U or W and letters and digits, e.g. U024BE7LH; "
                "Slack shows it under a profile's ⋮ > Copy member ID)."
            )
        if not user.is_active or not is_staff_member(user):
            raise CommandError(f"{username} is not an active owner or support user: only they can act from Slack.")
        other = SlackLink.objects.filter(slack_user_id=slack_user_id).exclude(user=user).select_related("user").first()
        if other is not None:
            raise CommandError(
                f"{slack_user_id} is linked to {other.user.get_username()}; "
                f"run `link_slack_user {other.user.get_username()} --unlink` first."
            )
        with transaction.atomic():
            SlackLink.objects.update_or_create(user=user, defaults={"slack_user_id": slack_user_id})
            AuditEvent.record(
                "slack.linked",
                obj=user,
                summary=f"{username} ({role_name(user)}) is {slack_user_id} on Slack: their presses act as them",
                slack_user_id=slack_user_id,
            )
        self.stdout.write(self.style.SUCCESS(f"Linked {username} ({role_name(user)}) to Slack user {slack_user_id}."))
