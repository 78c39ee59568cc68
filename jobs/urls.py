from django.urls import path

from jobs import views

urlpatterns = [
    path("dashboard/jobs/", views.jobs_page, name="jobs-page"),
    path("dashboard/jobs/<str:kind>/<id:pk>/retry/", views.job_retry_view, name="jobs-retry"),
    path("dashboard/jobs/<str:kind>/<id:pk>/cancel/", views.job_cancel_view, name="jobs-cancel"),
]
