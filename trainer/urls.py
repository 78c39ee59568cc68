from django.urls import path

from trainer import api

urlpatterns = [
    path("api/imports/", api.ImportCreateView.as_view(), name="trainer-imports"),
    path("api/imports/<id:job_id>/", api.ImportDetailView.as_view(), name="trainer-import"),
]
