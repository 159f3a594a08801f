"""Every API error becomes the same problem-details JSON, whichever layer raised it."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from promptopt.errors import ConflictError, NotFoundError, PermissionDeniedError, PromptOptError
from promptopt.middleware import RequestIdMiddleware


def _respond_with(error: Exception):
    class RaisingView(APIView):
        permission_classes = (AllowAny,)
        authentication_classes = ()

        def get(self, request):
            raise error

    view = RequestIdMiddleware(RaisingView.as_view())
    response = view(APIRequestFactory().get("/anything"))
    response.render()
    return response


@pytest.mark.parametrize(
    ("error", "status", "detail"),
    [
        (NotFoundError("team 'acme' has no prompt 'x'"), 404, "team 'acme' has no prompt 'x'"),
        (PermissionDeniedError("needs the editor role"), 403, "needs the editor role"),
        (ConflictError("run 3 has already finished"), 409, "run 3 has already finished"),
        (Http404("gone"), 404, "gone"),
        (Throttled(wait=30), 429, "Request was throttled. Expected available in 30 seconds."),
    ],
)
def test_it_maps_errors_onto_problem_details(error, status, detail):
    response = _respond_with(error)

    body = response.data
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/problem+json")
    assert (body["status"], body["detail"]) == (status, detail)
    assert body["request_id"] == response["X-Request-ID"]


def test_it_lists_field_errors_of_a_service_validation_error():
    response = _respond_with(ValidationError({"template": ["'{{ x.y }}' is not a placeholder"]}))

    assert response.status_code == 400
    assert response.data["errors"] == {"template": ["'{{ x.y }}' is not a placeholder"]}
    assert response.data["detail"] == "The request has invalid fields."


def test_it_reports_a_plain_application_error_as_a_bad_request():
    response = _respond_with(PromptOptError("budget must be positive"))

    assert response.status_code == 400
    assert response.data["errors"] == {"non_field_errors": ["budget must be positive"]}
