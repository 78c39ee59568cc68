from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.health import healthz
from config.views import home

urlpatterns = [
    path("healthz", healthz, name="platform-healthz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", home, name="home"),
    path("", include("accounts.urls")),
    path("", include("guidelines.urls")),
    path("", include("labeling.urls")),
    path("", include("rankings.urls")),
    path("", include("jobs.urls")),
    path("", include("sources.urls")),
    path("", include("dataset_io.urls")),
    path("", include("trainer.urls")),
    path("", include("ai_feedback.urls")),
    path("", include("serving.urls")),
    path("", include("dashboard.urls")),
]
