from django.urls import path

from trainer import (
    api,
    api_playground,
    api_training,
    views,
    views_training,
    views_training_datasets,
    views_training_playground,
)

urlpatterns = [
    path("api/imports/", api.ImportCreateView.as_view(), name="trainer-imports"),
    path("api/imports/<id:job_id>/", api.ImportDetailView.as_view(), name="trainer-import"),
    path(
        "api/imports/<id:job_id>/rerun/", api.ImportRerunView.as_view(), name="trainer-import-rerun"
    ),
    path(
        "api/imports/<id:job_id>/cancel/",
        api.ImportCancelView.as_view(),
        name="trainer-import-cancel",
    ),
    path("api/exports/", api.ExportCreateView.as_view(), name="trainer-exports"),
    path("api/exports/<id:snapshot_id>/", api.ExportDetailView.as_view(), name="trainer-export"),
    path(
        "api/exports/<id:snapshot_id>/rerun/",
        api.ExportRerunView.as_view(),
        name="trainer-export-rerun",
    ),
    path(
        "api/exports/<id:snapshot_id>/cancel/",
        api.ExportCancelView.as_view(),
        name="trainer-export-cancel",
    ),
    path(
        "api/exports/<id:snapshot_id>/download/",
        api.ExportDownloadView.as_view(),
        name="trainer-export-download",
    ),
    # The pages; the API's names above already take trainer-import and trainer-export.
    path("datasets/", views.datasets_index, name="trainer-datasets"),
    path("datasets/imports/new/", views.import_new, name="trainer-import-new"),
    path("datasets/imports/<id:job_id>/", views.import_page, name="trainer-import-page"),
    path("datasets/exports/new/", views.export_new, name="trainer-export-new"),
    path("datasets/exports/<id:snapshot_id>/", views.export_page, name="trainer-export-page"),
    path(
        "datasets/exports/<id:snapshot_id>/run-again/",
        views.export_run_again,
        name="trainer-export-run-again",
    ),
    path("api/training-runs/", api_training.TrainingRunsView.as_view(), name="trainer-runs"),
    path(
        "api/training-runs/<id:run_id>/",
        api_training.TrainingRunDetailView.as_view(),
        name="trainer-run",
    ),
    path(
        "api/training-runs/<id:run_id>/cancel/",
        api_training.TrainingRunCancelView.as_view(),
        name="trainer-run-cancel",
    ),
    path("api/models/", api_training.ModelsView.as_view(), name="trainer-models"),
    path("api/models/<id:model_id>/", api_training.ModelDetailView.as_view(), name="trainer-model"),
    path(
        "api/models/<id:model_id>/promote/",
        api_training.ModelPromoteView.as_view(),
        name="trainer-model-promote",
    ),
    path(
        "api/models/<id:model_id>/chat/",
        api_playground.ModelChatView.as_view(),
        name="trainer-model-chat",
    ),
    path("api/generations/", api_training.GenerationsView.as_view(), name="trainer-generations"),
    path(
        "api/generations/<id:job_id>/",
        api_training.GenerationDetailView.as_view(),
        name="trainer-generation",
    ),
    # The dashboard's training pages; the API's names above already take trainer-run,
    # trainer-models and the like, so each page's name ends in -page.
    path("dashboard/training/", views_training.training, name="trainer-training-page"),
    path(
        "dashboard/training/runs/<id:run_id>/",
        views_training.run_page,
        name="trainer-run-page",
    ),
    path(
        "dashboard/training/runs/<id:run_id>/cancel/",
        views_training.run_cancel,
        name="trainer-run-cancel-page",
    ),
    path("dashboard/models/", views_training.models, name="trainer-models-page"),
    path(
        "dashboard/models/<id:model_id>/promote/",
        views_training.model_promote_view,
        name="trainer-model-promote-page",
    ),
    path("dashboard/generations/", views_training.generations, name="trainer-generations-page"),
    path(
        "dashboard/generations/<id:job_id>/",
        views_training.generation_page,
        name="trainer-generation-page",
    ),
    path(
        "dashboard/playground/",
        views_training_playground.playground,
        name="trainer-playground-page",
    ),
    # The newest snapshots the runs train on; its name is older than the trainer app's pages.
    path("dashboard/datasets/", views_training_datasets.datasets, name="dashboard-datasets"),
]
