"""Overview, people and schedules: what the data and the people are doing."""

from django.urls import path

from dashboard import views

urlpatterns = [
    path("dashboard/", views.overview, name="dashboard-overview"),
    path("dashboard/people/", views.people, name="dashboard-people"),
    path("dashboard/schedules/", views.schedules, name="dashboard-schedules"),
]
