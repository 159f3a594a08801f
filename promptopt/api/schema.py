"""The OpenAPI schema's view of errors: every operation documents the problem-details answers it can give.

drf-spectacular documents success answers only; clients (and schemathesis) need the error answers too, with
their `application/problem+json` body, so they are added here for every operation.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

# Answers any operation may give (404: no such object, one of another team, or a page past the end), and those
# that only operations with input or with objects in their path can give.
_ALWAYS = {
    "401": "No valid credentials.",
    "403": "The caller may not do this.",
    "404": "No such object (or one of another team), or no such page.",
    "429": "Too many requests; see Retry-After.",
}
_WITH_INPUT = {"400": "Invalid input; `errors` maps each field to its messages.", "415": "Unsupported content type."}
_WITH_OBJECTS = {"409": "The current state forbids it."}


class ProblemDetails(serializers.Serializer[Any]):
    """RFC 9457 problem details, the body of every error answer."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    request_id = serializers.CharField(allow_null=True)
    errors = serializers.JSONField(  # type: ignore[assignment]  # a declared field, not Serializer.errors
        required=False, help_text="Field name → messages, for validation errors."
    )


class ProblemAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        component = self.resolve_serializer(ProblemDetails, "response")
        documented = dict(_ALWAYS)
        if self.method in ("POST", "PUT", "PATCH") or self.get_override_parameters() or self._is_list_view():
            documented |= _WITH_INPUT
        if "{" in self.path or self.method != "GET":
            documented |= _WITH_OBJECTS
        if self.method in ("POST", "PUT", "PATCH"):
            documented["413"] = "The request body is too large."
        for code, description in documented.items():
            responses.setdefault(
                code, {"description": description, "content": {"application/problem+json": {"schema": component.ref}}}
            )
        return responses
