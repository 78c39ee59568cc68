"""Datasets, training, models, generation and the playground: turning the flywheel."""

from django.urls import path

from dashboard import views_training
from trainer import api_playground

urlpatterns = [
    path("dashboard/datasets/", views_training.datasets, name="dashboard-datasets"),
    path("dashboard/training/", views_training.training, name="dashboard-training"),
    path("dashboard/training/runs/<id:run_id>/", views_training.run_page, name="dashboard-run"),
    path(
        "dashboard/training/runs/<id:run_id>/cancel/",
        views_training.run_cancel,
        name="dashboard-run-cancel",
    ),
    path("dashboard/models/", views_training.models, name="dashboard-models"),
    path(
        "dashboard/models/<id:model_id>/promote/",
        views_training.model_promote_view,
        name="dashboard-model-promote",
    ),
    path("dashboard/generations/", views_training.generations, name="dashboard-generations"),
    path(
        "dashboard/generations/<id:job_id>/",
        views_training.generation_page,
        name="dashboard-generation",
    ),
    path("dashboard/playground/", views_training.playground, name="dashboard-playground"),
    # The playground's API lives here rather than in trainer/urls.py, beside its page.
    path(
        "api/models/<id:model_id>/chat/",
        api_playground.ModelChatView.as_view(),
        name="trainer-model-chat",
    ),
]
