"""The API's documentation pages (Swagger UI and Redoc, served from drf-spectacular-sidecar's files).

Both are open to anyone (the schema describes the API, not any team's data) and both style themselves with
inline <style>, which the site-wide content security policy forbids; these two pages alone may.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from csp.decorators import csp_update
from rest_framework.permissions import AllowAny


def docs_page(view_class: Any) -> Callable[..., Any]:
    view = view_class.as_view(url_name="schema", permission_classes=[AllowAny], authentication_classes=[])
    return csp_update({"style-src": ["'unsafe-inline'"], "worker-src": ["blob:"], "img-src": ["data:"]})(view)
