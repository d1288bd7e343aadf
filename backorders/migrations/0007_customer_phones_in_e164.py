"""Customer phones in E.164, read in the store's country; a phone that cannot be read is kept and flagged."""

from django.db import migrations, models


def read_existing_phones(apps, schema_editor):
    from backorders.formats.phones import read_phone

    Customer = apps.get_model("backorders", "Customer")
    changed = []
    for customer in Customer.objects.exclude(phone="").only("pk", "phone").iterator(chunk_size=2000):
        reading = read_phone(customer.phone)
        if (reading.phone, reading.unreadable) != (customer.phone, False):
            customer.phone, customer.phone_unreadable = reading.phone, reading.unreadable
            changed.append(customer)
    Customer.objects.bulk_update(changed, ["phone", "phone_unreadable"], batch_size=2000)


class Migration(migrations.Migration):
    dependencies = [
        ("backorders", "0006_drop_indexes_duplicated_by_composites"),
    ]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="phone_unreadable",
            field=models.BooleanField(
                db_default=False,
                default=False,
                help_text="The phone could not be read as a number: kept as typed, never sent an SMS.",
            ),
        ),
        migrations.AlterField(
            model_name="customer",
            name="phone",
            field=models.CharField(blank=True, help_text="E.164 (+15555555555) when it could be read.", max_length=32),
        ),
        migrations.RunPython(read_existing_phones, migrations.RunPython.noop, elidable=True),
    ]
