from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from packets.health import healthz

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="packets:case-list", permanent=False), name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("", include("backorders.urls")),
    path("", include("suppliers.urls")),
    path("", include("packets.urls")),
]
