from django.urls import path

from sources import api

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
]
