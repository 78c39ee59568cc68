from django.urls import path

from serving import playground, scoring, views

urlpatterns = [
    path("v1/models", views.models_list, name="serving-models"),
    path("v1/chat/completions", views.chat_completions, name="serving-chat-completions"),
    path("internal/playground/<int:model_id>", playground.playground, name="serving-playground"),
    path("internal/scores/<int:model_id>", scoring.scores, name="serving-scores"),
    path("v1/<path:rest>", views.not_found, name="serving-not-found"),
]
