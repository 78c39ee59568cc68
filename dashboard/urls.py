"""The admin dashboard: /dashboard/ and its sections. Every page is for admins only.

The training sections (/dashboard/training/, /dashboard/models/, ...) are the trainer app's
own pages, in trainer/urls.py."""

from django.urls import path

from dashboard import api, views

urlpatterns = [
    path("dashboard/", views.overview, name="dashboard-overview"),
    path("dashboard/refresh/", views.overview_refresh, name="dashboard-refresh"),
    path("dashboard/people/", views.people, name="dashboard-people"),
    path("dashboard/people/<id:user_id>/", views.person, name="dashboard-person"),
    path("dashboard/schedules/", views.schedules, name="dashboard-schedules"),
    path(
        "dashboard/schedules/<id:schedule_id>/",
        views.schedule_edit,
        name="dashboard-schedule-edit",
    ),
    path("api/schedules/", api.ScheduleListView.as_view(), name="dashboard-api-schedules"),
    path(
        "api/schedules/<id:schedule_id>/",
        api.ScheduleDetailView.as_view(),
        name="dashboard-api-schedule",
    ),
]
