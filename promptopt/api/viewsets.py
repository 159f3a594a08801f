"""The API's base viewset: every object comes from the tenant scope of the request's actor, within the team
named in the URL, and no subclass can fetch its objects any other way.

PostHog's TeamAndOrgViewSetMixin is the model: overriding `get_queryset` (or setting `queryset`) in a
subclass is refused when the class is defined; a subclass narrows the scoped rows with `narrow` instead.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar

from django.db.models import Model, QuerySet
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.viewsets import GenericViewSet

from accounts.actors import Actor
from accounts.models import Team
from accounts.scope import team_condition, visible_to
from accounts.selectors import team_get
from promptopt.api.actors import request_actor
from promptopt.errors import NotFoundError

# Names a subclass may not define: each would let it fetch rows outside the actor's scope.
UNSCOPED_ATTRIBUTES = ("get_queryset", "queryset")


class TeamScopedViewSet(GenericViewSet):  # type: ignore[type-arg]
    """Rows of `scoped_model` that the actor may see, in the URL's team (`/teams/{team}/…`), narrowed by
    `narrow`. Another team's object, or one the actor may not see, answers 404 like a missing one."""

    scoped_model: ClassVar[type[Model]]
    # False for /teams/ itself, which lists the actor's teams rather than living inside one.
    team_in_url: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in UNSCOPED_ATTRIBUTES:
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__} defines {name}; team-scoped views take their rows from TeamScopedViewSet "
                    "and narrow them with narrow()"
                )

    @property
    def actor(self) -> Actor:
        return request_actor(self.request)

    @cached_property
    def team(self) -> Team:
        actor, slug = self.actor, self.kwargs["team"]
        key = actor.api_key
        if key is not None and not actor.is_system:
            # A key sees exactly its own team, which authentication already loaded with it: no query.
            if key.revoked_at is None and key.team.slug == slug:
                return key.team
            raise NotFoundError(f"no team {slug!r}")
        return team_get(actor=actor, slug=slug)

    def get_queryset(self) -> QuerySet[Any]:
        model = self.scoped_model
        if getattr(self, "swagger_fake_view", False):  # the schema generator inspects views without a request
            return model._default_manager.none()
        rows = visible_to(model, self.actor)
        if self.team_in_url:
            rows = rows.filter(team_condition(model, [self.team.pk]))
        return self.narrow(rows)

    def narrow(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        """Filter the scoped rows further for this view (its parent object, query parameters); never widen."""
        return rows

    def choice_param(self, name: str, choices: list[str]) -> str | None:
        """A query parameter that must be one of `choices` (None when absent); anything else is a 400, not a
        silently ignored filter that returns everything."""
        value = self.request.query_params.get(name)
        if value is not None and value not in choices:
            raise ValidationError({name: [f"use one of {', '.join(choices)}"]})
        return value

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if self.team_in_url and "team" in self.kwargs:
            # Resolved before the handler runs, so a team the actor cannot see is a 404 for every action.
            _ = self.team


def validated_body(serializer_class: type[serializers.Serializer[Any]], request: Request) -> dict[str, Any]:
    """The request body checked by `serializer_class` (a 400 naming each bad field otherwise)."""
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
