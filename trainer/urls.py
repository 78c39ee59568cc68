from django.urls import path

from trainer import (
    api_drafts,
    api_evaluations,
    api_playground,
    api_training,
    views_drafts,
    views_evaluations,
    views_training,
    views_training_playground,
)

urlpatterns = [
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
    path("api/drafts/", api_drafts.DraftsView.as_view(), name="trainer-drafts"),
    path("api/drafts/<id:job_id>/", api_drafts.DraftJobView.as_view(), name="trainer-draft-job"),
    path("api/evaluations/", api_evaluations.EvaluationsView.as_view(), name="trainer-evaluations"),
    path(
        "api/evaluations/<id:job_id>/",
        api_evaluations.EvaluationDetailView.as_view(),
        name="trainer-evaluation",
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
    path(
        "dashboard/models/<id:model_id>/",
        views_evaluations.model_page,
        name="trainer-model-page",
    ),
    path(
        "dashboard/evaluations/<id:job_id>/",
        views_evaluations.evaluation_page,
        name="trainer-evaluation-page",
    ),
    path("dashboard/generations/", views_training.generations, name="trainer-generations-page"),
    path(
        "dashboard/generations/<id:job_id>/",
        views_training.generation_page,
        name="trainer-generation-page",
    ),
    path("dashboard/drafts/", views_drafts.drafts, name="trainer-drafts-list-page"),
    path("dashboard/drafts/<id:job_id>/", views_drafts.drafts_page, name="trainer-drafts-page"),
    path(
        "dashboard/playground/",
        views_training_playground.playground,
        name="trainer-playground-page",
    ),
]
