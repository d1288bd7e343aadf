from django.apps import AppConfig


class PacketsConfig(AppConfig):
    name = "packets"
    verbose_name = "Cases and decisions"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (audit of logins, email delivery reports; no database work here)
