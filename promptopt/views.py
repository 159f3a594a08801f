"""Project-level views that belong to no app: the health check used by deployments and the demo."""

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from promptopt.api.exceptions import PROBLEM_CONTENT_TYPE
from promptopt.logs import request_id_var


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})


@csrf_exempt
def api_not_found(request: HttpRequest) -> JsonResponse:
    """Any /api/ path no API version serves: the same problem-details shape as every other API error."""
    body = {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "No such API resource. The current API is /api/v1/; its documentation is at /api/v1/docs/.",
        "request_id": request_id_var.get(),
    }
    return JsonResponse(body, status=404, content_type=PROBLEM_CONTENT_TYPE)
