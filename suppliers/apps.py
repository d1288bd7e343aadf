from django.apps import AppConfig


class SuppliersConfig(AppConfig):
    name = "suppliers"
    verbose_name = "Suppliers"

    def ready(self) -> None:
        # Filling intake's tables of kinds (CSV, generic webhook); no database work happens here.
        from backorders.intake import generic
        from backorders.intake.csv_import import register

        from .history import run_csv_rows
        from .intake import handle_supplier_update

        generic.register("supplier_update", handle_supplier_update)
        register(
            "purchase-history",
            run_csv_rows,
            label="Purchase history",
            help="supplier,sku,ordered_at,quoted_at,received_at (ISO dates): the history ETA ranges learn from",
        )
