from django.apps import AppConfig


class BackordersConfig(AppConfig):
    name = "backorders"
    verbose_name = "Store: orders and stock"

    def ready(self) -> None:
        # Each CSV kind registers itself with ``intake.csv_import`` on import; no database work here.
        from .intake import csv_inventory, csv_orders, csv_tracking  # noqa: F401
