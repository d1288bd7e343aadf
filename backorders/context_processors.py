from django.conf import settings

from . import roles as role_rules


def roles(request):
    user = getattr(request, "user", None)
    return {
        "is_owner": role_rules.is_owner(user),
        "role_name": role_rules.role_name(user),
        "STORE_TIME_ZONE": settings.STORE_TIME_ZONE,
    }
