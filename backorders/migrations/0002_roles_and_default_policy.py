from django.db import migrations

ROLE_GROUPS = ["Owner", "Support"]


def create_roles_and_policy(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLE_GROUPS:
        Group.objects.get_or_create(name=name)
    StorePolicy = apps.get_model("backorders", "StorePolicy")
    if not StorePolicy.objects.exists():
        StorePolicy.objects.create(version=1, note="Defaults")


def remove_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name__in=ROLE_GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("backorders", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_roles_and_policy, remove_roles)]
