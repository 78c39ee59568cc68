from django.urls import path

from sources import api, views

urlpatterns = [
    path("api/model-sources/", api.SourcesView.as_view(), name="sources-list"),
    path(
        "api/model-sources/<id:source_id>/", api.SourceDetailView.as_view(), name="sources-detail"
    ),
    path(
        "api/model-sources/<id:source_id>/check/",
        api.SourceCheckView.as_view(),
        name="sources-check",
    ),
    path("dashboard/sources/", views.sources_page, name="sources-page"),
    path(
        "dashboard/sources/<id:source_id>/check/",
        views.source_check_page,
        name="sources-check-page",
    ),
]
