from django.urls import path

from guidelines import api, views

version = "api/guidelines/<slug:slug>/versions/<id:number>/"
page = "guidelines/<slug:slug>/v/<id:number>/"

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
    # The pages; the API's names above already take guidelines-publish and the like.
    path("guidelines/", views.guideline_index, name="guidelines-index"),
    path("guidelines/new/", views.guideline_new, name="guidelines-new"),
    path("guidelines/<slug:slug>/", views.guideline_current, name="guidelines-current"),
    path("guidelines/<slug:slug>/history/", views.guideline_history, name="guidelines-history"),
    path("guidelines/<slug:slug>/compare/", views.guideline_diff, name="guidelines-compare"),
    path("guidelines/<slug:slug>/write/", views.version_write, name="guidelines-write"),
    path("guidelines/<slug:slug>/readers/", views.guideline_readers, name="guidelines-readers"),
    path(page, views.version_detail, name="guidelines-version"),
    path(page + "edit/", views.version_write, name="guidelines-edit"),
    path(page + "publish/", views.version_publish_view, name="guidelines-publish-page"),
    path(page + "retire/", views.version_retire_view, name="guidelines-retire-page"),
    path(page + "acknowledge/", views.version_acknowledge, name="guidelines-acknowledge-page"),
]
