"""Who may do what. Roles are Django groups; the checks live here, once, and views call them."""

from __future__ import annotations

OWNER = "Owner"
SUPPORT = "Support"


def ensure_groups():
    """The two role groups (a migration creates them; this puts them back after a test flush)."""
    from django.contrib.auth.models import Group

    return {name: Group.objects.get_or_create(name=name)[0] for name in (OWNER, SUPPORT)}


def _groups(user) -> set[str]:
    if not getattr(user, "is_authenticated", False):
        return set()
    cached = getattr(user, "_role_names", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._role_names = cached
    return cached


def is_owner(user) -> bool:
    return bool(getattr(user, "is_superuser", False)) or OWNER in _groups(user)


def is_staff_member(user) -> bool:
    """Owner or support: anyone who may work the back-office."""
    return is_owner(user) or SUPPORT in _groups(user)


def role_name(user) -> str:
    if is_owner(user):
        return OWNER
    if is_staff_member(user):
        return SUPPORT
    return ""
