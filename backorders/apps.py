from django.apps import AppConfig


class BackordersConfig(AppConfig):
    name = "backorders"
    verbose_name = "Store: orders and stock"
