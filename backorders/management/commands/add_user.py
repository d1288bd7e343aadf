"""Create a login for the store's people, or change one's role or password.

    python manage.py add_user alice --role owner --email alice@example.com
    printf '%s' "$PASSWORD" | python manage.py add_user bob --role support --password-stdin

Without ``--password-stdin`` the password is asked for twice at the terminal. Passwords go through
the project's password validators. An owner may also use the Django admin (outbound subscriptions,
policy); support staff may not. Running it again for an existing user changes their role (the other
role is removed) and, when one is given, their password.
"""

from __future__ import annotations

import getpass
import sys

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from backorders.roles import OWNER, SUPPORT, ensure_groups

ROLES = {"owner": OWNER, "support": SUPPORT}


class Command(BaseCommand):
    help = "Create or update a login with the owner or support role."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", choices=sorted(ROLES), required=True)
        parser.add_argument("--email", default=None)
        parser.add_argument("--first-name", default=None)
        parser.add_argument(
            "--password-stdin", action="store_true", help="read the password from standard input (for scripts)"
        )
        parser.add_argument(
            "--keep-password", action="store_true", help="an existing user keeps their password (role change only)"
        )

    def handle(self, *args, username, role, email, first_name, password_stdin, keep_password, **options):
        User = get_user_model()
        user = User.objects.filter(username=username).first() or User(username=username)
        if email is not None:
            user.email = email
        if first_name is not None:
            user.first_name = first_name
        if keep_password and user.pk:
            password = None
        else:
            password = self._read_password(password_stdin)
            try:
                validate_password(password, user)
            except ValidationError as exc:
                raise CommandError("The password was refused: " + " ".join(exc.messages)) from exc
        is_owner = role == "owner"
        user.is_staff = is_owner
        user.is_superuser = is_owner
        user.is_active = True
        if password is not None:
            user.set_password(password)
        created = user.pk is None
        with transaction.atomic():
            user.save()
            groups = ensure_groups()
            user.groups.remove(*[group for name, group in groups.items() if name != ROLES[role]])
            user.groups.add(groups[ROLES[role]])
        verb = "Created" if created else "Updated"
        self.stdout.write(self.style.SUCCESS(f"{verb} {username} ({ROLES[role]})."))

    def _read_password(self, from_stdin: bool) -> str:
        if from_stdin:
            password = sys.stdin.read().rstrip("\r\n")
            if not password:
                raise CommandError("No password on standard input.")
            return password
        if not sys.stdin.isatty():
            raise CommandError("No terminal to ask for the password: use --password-stdin.")
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password (again): "):
            raise CommandError("The two passwords differ.")
        return first
