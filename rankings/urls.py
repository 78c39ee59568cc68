from django.urls import path

from rankings import api, api_priority, views, views_priority

urlpatterns = [
    path("api/comparisons/", api.ComparisonCreateView.as_view(), name="rankings-comparisons"),
    path(
        "api/comparisons/<id:comparison_id>/rankings/",
        api.RankingCreateView.as_view(),
        name="rankings-rankings",
    ),
    path(
        "api/comparisons/<id:comparison_id>/consensus/",
        api.ConsensusView.as_view(),
        name="rankings-consensus",
    ),
    path("api/rankings/agreement/", api.AgreementView.as_view(), name="rankings-agreement"),
    path(
        "api/rankings/queue-priority/",
        api_priority.QueuePriorityListView.as_view(),
        name="rankings-queue-priority-list",
    ),
    path(
        "api/rankings/queue-priority/<id:guideline_id>/",
        api_priority.QueuePriorityView.as_view(),
        name="rankings-queue-priority",
    ),
    path("work/rank/<id:task_id>/", views.ranking_task_page, name="rankings-task"),
    path("rankings/", views.comparison_index, name="rankings-index"),
    path("rankings/agreement/", views.agreement_page, name="rankings-agreement-page"),
    path(
        "rankings/queue/",
        views_priority.queue_priority_page,
        name="rankings-queue-priority-page",
    ),
    path(
        "rankings/comparisons/<id:comparison_id>/",
        views.comparison_detail,
        name="rankings-comparison",
    ),
]
