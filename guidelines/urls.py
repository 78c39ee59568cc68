from django.urls import path

from guidelines import api, views

version = "api/guidelines/<slug:slug>/versions/<id:number>/"

urlpatterns = [
    path("api/guidelines/", api.GuidelineListCreateView.as_view(), name="guidelines-list"),
    path("api/guidelines/preview/", api.PreviewView.as_view(), name="guidelines-preview"),
    path(
        "api/guidelines/<slug:slug>/versions/",
        api.VersionListCreateView.as_view(),
        name="guidelines-versions",
    ),
    path(version, api.VersionDetailView.as_view(), name="guidelines-version"),
    path(version + "publish/", api.VersionPublishView.as_view(), name="guidelines-publish"),
    path(version + "retire/", api.VersionRetireView.as_view(), name="guidelines-retire"),
    path(
        version + "acknowledge/",
        api.VersionAcknowledgeView.as_view(),
        name="guidelines-acknowledge",
    ),
    path("api/guidelines/<slug:slug>/diff/", api.DiffView.as_view(), name="guidelines-diff"),
    path(
        "api/guidelines/<slug:slug>/acknowledgements/",
        api.AcknowledgementTableView.as_view(),
        name="guidelines-acknowledgements",
    ),
    *views.urlpatterns,
]
