"""Root URL configuration: the admin, the health check, and (later) the web UI and versioned API."""

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from promptopt.views import api_not_found, health

admin.site.site_header = "PromptOpt administration"
admin.site.site_title = "PromptOpt"
admin.site.index_title = "Prompts, datasets and optimization runs"
admin.site.site_url = None  # no "View site" link until the web UI exists; "/" leads to the admin meanwhile

urlpatterns = [
    # The version is part of the path; DRF's URLPathVersioning refuses any but v1 with a problem-details 404.
    re_path(r"^api/(?P<version>v[0-9]+)/", include("promptopt.api.urls")),
    re_path(r"^api/", api_not_found),
    path("admin/", admin.site.urls),
    path("healthz", health, name="health"),
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),
]
