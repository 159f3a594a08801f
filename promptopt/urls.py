"""Root URL configuration: the versioned API, the admin, the health check, the metrics and the web UI."""

from django.contrib import admin
from django.urls import include, path, re_path

from promptopt.views import api_not_found, health, metrics

admin.site.site_header = "PromptOpt administration"
admin.site.site_title = "PromptOpt"
admin.site.index_title = "Prompts, datasets and optimization runs"
admin.site.site_url = "/"  # "View site" leads to the web UI

urlpatterns = [
    # The version is part of the path; DRF's URLPathVersioning refuses any but v1 with a problem-details 404.
    re_path(r"^api/(?P<version>v[0-9]+)/", include("promptopt.api.urls")),
    re_path(r"^api/", api_not_found),
    path("admin/", admin.site.urls),
    path("healthz", health, name="health"),
    path("metrics", metrics, name="metrics"),
    path("", include("promptopt.ui_urls")),
]
