app_name = "suppliers"

urlpatterns: list = [
    # supplier pages, evidence and scorecards are added here
]
