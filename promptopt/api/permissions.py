"""The API's one permission class: the request must have an actor. What the actor may do with which team is
decided by the tenant scope (reads) and the services (writes), the same as on every other surface."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.models import ApiKey


class HasActor(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        if isinstance(request.auth, ApiKey):
            return True
        user = request.user
        return bool(user is not None and user.is_authenticated and user.is_active)
