"""The admin dashboard: /dashboard/ and its sections. Every page is for admins only."""

from django.urls import path

from dashboard import views

urlpatterns = [
    path("dashboard/", views.overview, name="dashboard-overview"),
]
