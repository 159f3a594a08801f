"""Root URL configuration: the admin, the health check, and (later) the web UI and versioned API."""

from django.contrib import admin
from django.urls import path

from promptopt.views import health

admin.site.site_header = "PromptOpt administration"
admin.site.site_title = "PromptOpt"
admin.site.index_title = "Prompts, datasets and optimization runs"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", health, name="health"),
]
