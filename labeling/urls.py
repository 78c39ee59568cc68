from django.urls import path

from labeling import api, views

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
    path("work/prompts/new/", views.prompt_write, name="labeling-prompt-new"),
    path("work/<str:kind>/next/", views.task_next, name="labeling-next"),
    path("work/tasks/<id:task_id>/", views.task_page, name="labeling-task"),
    path("work/tasks/<id:task_id>/skip/", views.task_skip_page, name="labeling-skip"),
    path("work/mine/", views.my_work, name="labeling-mine"),
    path(
        "work/demonstrations/<id:demonstration_id>/revise/",
        views.demonstration_revise_page,
        name="labeling-revise",
    ),
]
