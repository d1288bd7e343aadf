from django.apps import AppConfig


class PacketsConfig(AppConfig):
    name = "packets"
    verbose_name = "Cases and decisions"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (audit of logins; no database work here)
