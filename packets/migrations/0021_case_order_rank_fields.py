from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def copy_order_facts(apps, schema_editor):
    """Give every case with an order the order's value and promise that the queue's rank reads."""
    Case = apps.get_model("packets", "Case")
    Order = apps.get_model("backorders", "Order")
    order = Order.objects.filter(pk=OuterRef("order_id"))
    Case.objects.filter(order__isnull=False).update(
        order_total=Subquery(order.values("total")[:1]),
        order_promised_ship_by=Subquery(order.values("promised_ship_by")[:1]),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("backorders", "0018_channel_stock_parent"),
        ("packets", "0020_dirty_case_keys"),
    ]

    operations = [
        migrations.AddField(
            model_name="case",
            name="order_promised_ship_by",
            field=models.DateField(
                blank=True, help_text="The order's promised ship-by date, as the sweep last read it.", null=True
            ),
        ),
        migrations.AddField(
            model_name="case",
            name="order_total",
            field=models.DecimalField(
                blank=True,
                decimal_places=2,
                help_text="The order's value, as the sweep last read it.",
                max_digits=12,
                null=True,
            ),
        ),
        migrations.RunPython(copy_order_facts, migrations.RunPython.noop, elidable=True),
    ]
