"""The admin dashboard: /dashboard/ and its sections. Every page is for admins only."""

from django.urls import include, path

urlpatterns = [
    path("", include("dashboard.urls_overview")),
    path("", include("dashboard.urls_training")),
]
