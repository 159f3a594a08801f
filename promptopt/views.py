"""Project-level views that belong to no app: the health check and the Prometheus metrics that deployments
watch, and the API's answer for paths no API version serves."""

import hmac

from django.conf import settings
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from promptopt.api.exceptions import PROBLEM_CONTENT_TYPE
from promptopt.logs import request_id_var
from workflows.monitoring import PromptOptCollector, health_checks


@require_GET
@never_cache
def health(request: HttpRequest) -> JsonResponse:
    """200 when the database, the cache and the task broker all answer; 503 naming the one that does not."""
    checks = health_checks()
    healthy = all(check.ok for check in checks)
    body = {
        "status": "ok" if healthy else "unavailable",
        "database": connection.vendor,
        "checks": {check.name: check.as_dict() for check in checks},
    }
    return JsonResponse(body, status=200 if healthy else 503)


@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for a scraper holding METRICS_TOKEN; without a configured token: 404."""
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404("metrics are off: set METRICS_TOKEN")
    offered = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if not hmac.compare_digest(offered.encode(), token.encode()):
        response = HttpResponse("a valid bearer token is required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PromptOptCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


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
