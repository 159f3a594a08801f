"""Root URL configuration: the admin, the health check, and (later) the web UI and versioned API."""

from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from promptopt.views import health

admin.site.site_header = "PromptOpt administration"
admin.site.site_title = "PromptOpt"
admin.site.index_title = "Prompts, datasets and optimization runs"
admin.site.site_url = None  # no "View site" link until the web UI exists; "/" leads to the admin meanwhile

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", health, name="health"),
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),
]
