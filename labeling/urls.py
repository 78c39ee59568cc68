from django.urls import path

from labeling import api

urlpatterns = [
    path("api/prompts/", api.PromptListCreateView.as_view(), name="labeling-prompts"),
    path("api/tasks/next/", api.TaskNextView.as_view(), name="labeling-task-next"),
    path("api/tasks/<id:task_id>/skip/", api.TaskSkipView.as_view(), name="labeling-task-skip"),
    path("api/tasks/<id:task_id>/renew/", api.TaskRenewView.as_view(), name="labeling-task-renew"),
    path("api/tasks/<id:task_id>/draft/", api.TaskDraftView.as_view(), name="labeling-task-draft"),
    path(
        "api/demonstrations/", api.DemonstrationCreateView.as_view(), name="labeling-demonstrations"
    ),
    path(
        "api/demonstrations/mine/",
        api.MyDemonstrationsView.as_view(),
        name="labeling-my-demonstrations",
    ),
    path(
        "api/demonstrations/<id:demonstration_id>/",
        api.DemonstrationReviseView.as_view(),
        name="labeling-demonstration",
    ),
    path(
        "api/demonstrations/<id:demonstration_id>/reviews/",
        api.ReviewCreateView.as_view(),
        name="labeling-reviews",
    ),
    path("api/me/opt-outs/", api.OptOutView.as_view(), name="labeling-opt-outs"),
]
