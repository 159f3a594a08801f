"""API for teams, their members, their API keys and their audit log, and the JWT token endpoints."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt import views as jwt_views

from accounts.actors import ensure_owner
from accounts.models import ApiKey, ApiKeyScope, AuditAction, AuditEvent, Membership, Role, Team
from accounts.services import (
    api_key_create,
    api_key_revoke,
    membership_remove,
    membership_set,
    team_create,
    team_delete,
    team_update,
)
from promptopt.api.exceptions import sign_in_locked
from promptopt.api.viewsets import TeamScopedViewSet, validated_body
from promptopt.errors import NotFoundError
from promptopt.surface import Surface

# --- teams ---------------------------------------------------------------------------------------------


class TeamOut(serializers.ModelSerializer[Team]):
    class Meta:
        model = Team
        fields = ("slug", "name", "created_at")
        read_only_fields = fields


class TeamCreateIn(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100)
    slug = serializers.SlugField(max_length=100, required=False)


class TeamUpdateIn(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100)


class TeamViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    TeamScopedViewSet,
):
    """The teams the caller belongs to (an API key: its own team)."""

    scoped_model = Team
    team_in_url = False
    serializer_class = TeamOut
    lookup_field = "slug"
    lookup_url_kwarg = "team"
    search_fields = ("name", "slug")
    ordering_fields = ("name", "slug", "created_at")
    ordering = ("name", "id")

    @extend_schema(request=TeamCreateIn, responses={201: TeamOut})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = validated_body(TeamCreateIn, request)
        team = team_create(name=data["name"], slug=data.get("slug"), actor=self.actor)
        return Response(TeamOut(team).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=TeamUpdateIn, responses=TeamOut)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = validated_body(TeamUpdateIn, request)
        return Response(TeamOut(team_update(team=self.get_object(), name=data["name"], actor=self.actor)).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        team_delete(team=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- members -------------------------------------------------------------------------------------------


class MemberOut(serializers.ModelSerializer[Membership]):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ("username", "role", "created_at")
        read_only_fields = fields


class MemberIn(serializers.Serializer[Any]):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices)


class MemberRoleIn(serializers.Serializer[Any]):
    role = serializers.ChoiceField(choices=Role.choices)


class MemberViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """A team's members and their roles; owners add, change and remove them (anyone may leave)."""

    scoped_model = Membership
    serializer_class = MemberOut
    lookup_field = "user__username"
    lookup_url_kwarg = "username"
    lookup_value_regex = r"[\w.@+-]+"  # every character Django allows in a username
    ordering_fields = ("user__username", "role", "created_at")
    ordering = ("user__username",)
    search_fields = ("user__username",)

    def narrow(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        return rows.select_related("user")

    def _user(self, username: str) -> Any:
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise NotFoundError(f"no user {username!r}")
        return user

    @extend_schema(request=MemberIn, responses={201: MemberOut})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = validated_body(MemberIn, request)
        # The role first: whether a username exists is not for non-owners (nor keys) to find out.
        ensure_owner(self.actor, self.team)
        membership = membership_set(
            team=self.team, user=self._user(data["username"]), role=Role(data["role"]), actor=self.actor
        )
        return Response(MemberOut(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=MemberRoleIn, responses=MemberOut)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = validated_body(MemberRoleIn, request)
        membership = self.get_object()
        updated = membership_set(team=self.team, user=membership.user, role=Role(data["role"]), actor=self.actor)
        return Response(MemberOut(updated).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        membership_remove(team=self.team, user=self.get_object().user, actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- API keys ------------------------------------------------------------------------------------------


class ApiKeyOut(serializers.ModelSerializer[ApiKey]):
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None, allow_null=True)

    class Meta:
        model = ApiKey
        fields = ("prefix", "name", "scope", "created_by", "created_at", "last_used_at", "revoked_at")
        read_only_fields = fields


class ApiKeyIssuedOut(ApiKeyOut):
    key = serializers.CharField(read_only=True, help_text="The key itself: shown this once, never stored.")

    class Meta:
        model = ApiKey
        fields = ("prefix", "name", "scope", "created_by", "created_at", "last_used_at", "revoked_at", "key")
        read_only_fields = fields


class ApiKeyIn(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100)
    scope = serializers.ChoiceField(choices=ApiKeyScope.choices, default=ApiKeyScope.READ)


class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """A team's API keys. The key is shown once, in the answer to its creation; DELETE revokes it."""

    scoped_model = ApiKey
    serializer_class = ApiKeyOut
    lookup_field = "prefix"
    ordering_fields = ("name", "created_at", "last_used_at")
    ordering = ("name", "id")
    search_fields = ("name", "prefix")

    def narrow(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        rows = rows.select_related("created_by")
        if self.request.query_params.get("include_revoked") != "true":
            rows = rows.filter(revoked_at__isnull=True)
        return rows

    @extend_schema(parameters=[OpenApiParameter("include_revoked", bool, description="Also list revoked keys.")])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=ApiKeyIn, responses={201: ApiKeyIssuedOut})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = validated_body(ApiKeyIn, request)
        issued = api_key_create(team=self.team, name=data["name"], scope=ApiKeyScope(data["scope"]), actor=self.actor)
        body = ApiKeyOut(issued.api_key).data | {"key": issued.raw_key}
        return Response(body, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        api_key_revoke(api_key=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- audit log -----------------------------------------------------------------------------------------


class AuditEventOut(serializers.ModelSerializer[AuditEvent]):
    class Meta:
        model = AuditEvent
        fields = ("id", "created_at", "action", "surface", "actor", "target", "details")
        read_only_fields = fields


class AuditEventViewSet(mixins.ListModelMixin, TeamScopedViewSet):
    """The team's audit log, newest first: label moves, versions, API keys, runs started and cancelled,
    membership changes; who did it, when, and through which surface. Owners only."""

    scoped_model = AuditEvent
    serializer_class = AuditEventOut
    ordering_fields = ("created_at",)
    ordering = ("-created_at", "-id")
    search_fields = ("actor", "target")

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        ensure_owner(self.actor, self.team)  # the log names every member's actions: owners only (403)

    def narrow(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        action = self.choice_param("action", AuditAction.values)
        surface = self.choice_param("surface", Surface.values)
        if action is not None:
            rows = rows.filter(action=action)
        if surface is not None:
            rows = rows.filter(surface=surface)
        return rows

    @extend_schema(
        parameters=[
            OpenApiParameter("action", str, enum=AuditAction.values, description="Only this kind of change."),
            OpenApiParameter("surface", str, enum=Surface.values, description="Only changes made through it."),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)


# --- tokens --------------------------------------------------------------------------------------------


class _TokenRateScope:
    """Token requests carry no actor yet (simplejwt's views take no credentials): they are counted per client
    address, on a stricter limit."""

    rate_scope = "tokens"


class TokenObtainView(_TokenRateScope, jwt_views.TokenObtainPairView):
    """Username and password → an access token (5 minutes) and a refresh token (a day, rotated on use)."""

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return super().post(request, *args, **kwargs)
        except AuthenticationFailed:
            # django-axes refused the sign-in before looking at the password (too many failures), which
            # authenticate() reports as a plain failure: answer 429, as the admin's sign-in does.
            if getattr(request, "axes_locked_out", False) or getattr(request._request, "axes_locked_out", False):
                raise sign_in_locked() from None
            raise


class TokenRefreshView(_TokenRateScope, jwt_views.TokenRefreshView):
    """A refresh token → a new access token and a new refresh token; the old refresh token stops working."""


class TokenVerifyView(_TokenRateScope, jwt_views.TokenVerifyView):
    """Whether a token is valid (200) or not (401)."""


class TokenLogoutView(_TokenRateScope, jwt_views.TokenBlacklistView):
    """Sign out: the refresh token is blacklisted; access tokens expire within minutes on their own."""
