from django.urls import path

from trainer import api

urlpatterns = [
    path("api/imports/", api.ImportCreateView.as_view(), name="trainer-imports"),
    path("api/imports/<id:job_id>/", api.ImportDetailView.as_view(), name="trainer-import"),
    path("api/exports/", api.ExportCreateView.as_view(), name="trainer-exports"),
    path("api/exports/<id:snapshot_id>/", api.ExportDetailView.as_view(), name="trainer-export"),
    path(
        "api/exports/<id:snapshot_id>/rerun/",
        api.ExportRerunView.as_view(),
        name="trainer-export-rerun",
    ),
    path(
        "api/exports/<id:snapshot_id>/download/",
        api.ExportDownloadView.as_view(),
        name="trainer-export-download",
    ),
]
