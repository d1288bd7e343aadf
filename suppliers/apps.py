from django.apps import AppConfig


class SuppliersConfig(AppConfig):
    name = "suppliers"
    verbose_name = "Suppliers"

    def ready(self) -> None:
        # Filling the CSV importer's table of kinds; no database work happens here.
        from backorders.intake.csv_import import register

        from .history import run_csv_rows

        register(
            "purchase-history",
            run_csv_rows,
            label="Purchase history",
            help="supplier,sku,ordered_at,quoted_at,received_at (ISO dates): the history ETA ranges learn from",
        )
