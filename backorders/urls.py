app_name = "backorders"

urlpatterns: list = [
    # webhooks, CSV upload and stock pages are added here
]
