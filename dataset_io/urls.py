from django.urls import path

from dataset_io import api, views

urlpatterns = [
    path("api/imports/", api.ImportCreateView.as_view(), name="datasets-imports"),
    path("api/imports/<id:job_id>/", api.ImportDetailView.as_view(), name="datasets-import"),
    path(
        "api/imports/<id:job_id>/rerun/",
        api.ImportRerunView.as_view(),
        name="datasets-import-rerun",
    ),
    path(
        "api/imports/<id:job_id>/cancel/",
        api.ImportCancelView.as_view(),
        name="datasets-import-cancel",
    ),
    path("api/exports/", api.ExportsView.as_view(), name="datasets-exports"),
    path("api/exports/<id:snapshot_id>/", api.ExportDetailView.as_view(), name="datasets-export"),
    path(
        "api/exports/<id:snapshot_id>/rerun/",
        api.ExportRerunView.as_view(),
        name="datasets-export-rerun",
    ),
    path(
        "api/exports/<id:snapshot_id>/cancel/",
        api.ExportCancelView.as_view(),
        name="datasets-export-cancel",
    ),
    path(
        "api/exports/<id:snapshot_id>/download/",
        api.ExportDownloadView.as_view(),
        name="datasets-export-download",
    ),
    # The pages; the API's names above already take datasets-import and datasets-export,
    # so each page's name ends in -page or says what it does.
    path("datasets/", views.datasets_index, name="datasets-index"),
    path("datasets/imports/new/", views.import_new, name="datasets-import-new"),
    path("datasets/imports/<id:job_id>/", views.import_page, name="datasets-import-page"),
    path("datasets/exports/new/", views.export_new, name="datasets-export-new"),
    path("datasets/exports/<id:snapshot_id>/", views.export_page, name="datasets-export-page"),
    path(
        "datasets/exports/<id:snapshot_id>/run-again/",
        views.export_run_again,
        name="datasets-export-run-again",
    ),
    # The dashboard's own Datasets page became this app's one; old links and bookmarks.
    path(
        "dashboard/datasets/",
        views.datasets_dashboard_moved,
        name="datasets-dashboard-moved",
    ),
]
