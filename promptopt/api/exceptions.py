"""One error shape for the whole API: RFC 9457 problem details, whatever raised the error."""

from __future__ import annotations

import logging
from typing import Any

from axes.exceptions import AxesBackendPermissionDenied
from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django_ratelimit.exceptions import Ratelimited
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from promptopt.errors import ConflictError, NotFoundError, PermissionDeniedError, PromptOptError
from promptopt.logs import request_id_var

PROBLEM_CONTENT_TYPE = "application/problem+json"
logger = logging.getLogger(__name__)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


_STATUS_BY_APP_ERROR: tuple[tuple[type[PromptOptError], int], ...] = (
    (NotFoundError, status.HTTP_404_NOT_FOUND),
    (PermissionDeniedError, status.HTTP_403_FORBIDDEN),
    (ConflictError, status.HTTP_409_CONFLICT),
)


def sign_in_locked() -> exceptions.Throttled:
    """The answer to a sign-in that django-axes refused: too many failures for the account or the address."""
    return exceptions.Throttled(
        wait=settings.AXES_COOLOFF_TIME.total_seconds(),
        detail="Too many failed sign-ins for this account or address; try again later.",
    )


def _translate(exc: Exception) -> Exception:
    """Turn the errors services and Django raise into DRF's, so one code path builds every response."""
    if isinstance(exc, DjangoValidationError):
        detail: Any = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return exceptions.ValidationError(detail)
    if isinstance(exc, PromptOptError):
        for error_class, code in _STATUS_BY_APP_ERROR:
            if isinstance(exc, error_class):
                translated = exceptions.APIException(str(exc))
                translated.status_code = code
                return translated
        return exceptions.ValidationError({"non_field_errors": [str(exc)]})
    if isinstance(exc, Http404):
        return exceptions.NotFound(str(exc) or None)
    # Both are PermissionDenied subclasses, but they mean "too many": a rate limit, a sign-in lockout.
    if isinstance(exc, Ratelimited):
        return exceptions.Throttled(detail="Too many requests; slow down and retry.")
    if isinstance(exc, AxesBackendPermissionDenied):
        return sign_in_locked()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    return exc


def problem_details_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = drf_exception_handler(_translate(exc), context)
    if response is None:
        # A bug, not a refusal: logged with its traceback, answered without one (nor any detail that could leak).
        logger.exception("unhandled error in an API view", exc_info=exc)
        response = Response({"detail": "Internal error; it was logged."}, status=500)
    data = response.data
    problem: dict[str, Any] = {
        "type": "about:blank",
        "title": response.status_text,
        "status": response.status_code,
        "request_id": request_id_var.get(),
    }
    if isinstance(data, dict) and set(data) == {"detail"}:
        problem["detail"] = str(data["detail"])
    elif isinstance(data, dict) and "detail" in data:
        # e.g. simplejwt's "Given token not valid for any token type", with the reasons beside it.
        problem["detail"] = str(data["detail"])
        problem["errors"] = {key: value for key, value in data.items() if key != "detail"}
    else:
        problem["detail"] = "The request has invalid fields." if response.status_code == 400 else response.status_text
        problem["errors"] = data
    response.data = problem
    response.content_type = PROBLEM_CONTENT_TYPE
    return response
