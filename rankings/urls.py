from django.urls import path

from rankings import api, views

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
    path("work/rank/<id:task_id>/", views.ranking_task_page, name="rankings-task"),
    path("rankings/", views.comparison_index, name="rankings-index"),
    path("rankings/agreement/", views.agreement_page, name="rankings-agreement-page"),
    path(
        "rankings/comparisons/<id:comparison_id>/",
        views.comparison_detail,
        name="rankings-comparison",
    ),
]
