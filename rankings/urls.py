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
    *views.urlpatterns,
]
