"""Datasets, training, models, generation and the playground: turning the flywheel."""

from django.urls import path

from dashboard import views_training

urlpatterns = [
    path("dashboard/datasets/", views_training.datasets, name="dashboard-datasets"),
    path("dashboard/training/", views_training.training, name="dashboard-training"),
    path("dashboard/playground/", views_training.playground, name="dashboard-playground"),
]
