"""Admin pages for teams, memberships, API keys and the audit log; every write goes through accounts.services."""

from __future__ import annotations

import weakref
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from accounts.admin_scoping import (
    SERVICE_ERRORS,
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    ServiceAdminMixin,
    ServiceDeleteMixin,
    SuperuserDeleteMixin,
    TeamListFilter,
    TeamScopedAdminMixin,
    acting_actor,
    adopt_saved,
    call_service,
    forget_team_access,
    service_error_message,
    team_access,
)
from accounts.models import ApiKey, ApiKeyScope, AuditEvent, Membership, Role, Team
from accounts.services import (
    api_key_create,
    api_key_revoke,
    membership_remove,
    membership_set,
    team_create,
    team_delete,
    team_update,
)


class TeamAddForm(forms.ModelForm[Team]):
    slug = forms.SlugField(max_length=100, required=False, help_text="Leave blank to derive it from the name.")

    class Meta:
        model = Team
        fields = ("name", "slug")


class MembershipInline(ReadOnlyInline):
    model = Membership
    fields = ("user", "role", "created_at")


@admin.register(Team)
class TeamAdmin(SuperuserDeleteMixin, ServiceAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin[Team]):
    add_form = TeamAddForm
    add_fields = ("name", "slug")
    fields = ("name", "slug", "created_at")
    readonly_fields = ("created_at",)
    list_display = ("name", "slug", "member_count", "created_at")
    search_fields = ("name", "slug")
    inlines = (MembershipInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        queryset: QuerySet[Team] = super().get_queryset(request)
        # GROUP BY drops the model's default ordering; keep it so paging and autocomplete stay stable.
        return queryset.annotate(member_count=Count("memberships", distinct=True)).order_by("name")

    @admin.display(description="members", ordering="member_count")
    def member_count(self, team: Team) -> int:
        return getattr(team, "member_count", 0)

    def get_readonly_fields(self, request: HttpRequest, obj: Team | None = None) -> tuple[str, ...]:
        # The slug is how commands and API clients name the team: it never changes.
        return () if obj is None else ("slug", "created_at")

    def delete_with_service(self, request: HttpRequest, obj: Team) -> None:
        team_delete(team=obj, actor=acting_actor(request))

    def save_model(self, request: HttpRequest, obj: Team, form: Any, change: bool) -> None:
        if change:
            adopt_saved(
                obj,
                call_service(
                    lambda: team_update(team=obj, name=form.cleaned_data["name"], actor=acting_actor(request))
                ),
            )
            return
        team = call_service(
            lambda: team_create(
                name=form.cleaned_data["name"], slug=form.cleaned_data["slug"] or None, actor=acting_actor(request)
            )
        )
        adopt_saved(obj, team)
        forget_team_access(request)  # the user just became this team's owner


class MembershipForm(forms.ModelForm[Membership]):
    class Meta:
        model = Membership
        fields = ("team", "user", "role")


class MembershipAddForm(forms.ModelForm[Membership]):
    """Adds a member by username or e-mail: a dropdown would list every user of the installation."""

    member = forms.CharField(label="User", help_text="Username or e-mail address of an existing user.")

    class Meta:
        model = Membership
        fields = ("team", "role")

    def clean_member(self) -> User:
        text = self.cleaned_data["member"].strip()
        user = User.objects.filter(is_active=True).filter(Q(username=text) | Q(email__iexact=text)).first()
        if user is None:
            raise forms.ValidationError("No active user has this username or e-mail address.")
        return user


@admin.register(Membership)
class MembershipAdmin(ServiceDeleteMixin, ServiceAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin[Membership]):
    form = MembershipForm
    add_form = MembershipAddForm
    add_fields = ("team", "member", "role")
    fields = ("team", "user", "role", "created_at")
    list_display = ("user", "team", "role", "created_at")
    list_filter = ("role", TeamListFilter)
    list_select_related = ("team", "user")
    search_fields = ("user__username", "user__email", "team__name", "team__slug")

    def get_readonly_fields(self, request: HttpRequest, obj: Membership | None = None) -> tuple[str, ...]:
        # A membership's team and user are its identity; only the role changes.
        return () if obj is None else ("team", "user", "created_at")

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        user = obj.user if change else form.cleaned_data["member"]
        membership = call_service(
            lambda: membership_set(
                team=obj.team, user=user, role=Role(form.cleaned_data["role"]), actor=acting_actor(request)
            )
        )
        adopt_saved(obj, membership)
        forget_team_access(request)  # the user may have changed their own role

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_team_write_permission(request, obj)

    def delete_with_service(self, request: HttpRequest, obj: Membership) -> None:
        membership_remove(team=obj.team, user=obj.user, actor=acting_actor(request))
        forget_team_access(request)


# The raw key of a key created in this request, between save_model and response_add.
_issued_keys: weakref.WeakKeyDictionary[HttpRequest, str] = weakref.WeakKeyDictionary()


class ApiKeyAddForm(forms.ModelForm[ApiKey]):
    class Meta:
        model = ApiKey
        fields = ("team", "name", "scope")


class ActiveKeyFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(ServiceAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin[ApiKey]):
    """Keys are issued and revoked here, never edited; the hash is not shown and the key is shown once."""

    add_form = ApiKeyAddForm
    add_fields = ("team", "name", "scope")
    fields = (
        "team",
        "name",
        "prefix",
        "scope",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    )
    readonly_fields = fields
    list_display = ("name", "team", "prefix", "scope", "is_active", "created_by", "created_at", "last_used_at")
    list_filter = (ActiveKeyFilter, "scope", TeamListFilter)
    list_select_related = ("team", "created_by")
    search_fields = ("name", "prefix", "team__name")
    actions = ("revoke_keys",)

    @admin.display(boolean=True, description="active", ordering="revoked_at")
    def is_active(self, api_key: ApiKey) -> bool:
        return api_key.is_active

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a key is revoked and replaced, never edited

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        data = form.cleaned_data
        issued = call_service(
            lambda: api_key_create(
                team=data["team"], name=data["name"], scope=ApiKeyScope(data["scope"]), actor=acting_actor(request)
            )
        )
        adopt_saved(obj, issued.api_key)
        _issued_keys[request] = issued.raw_key

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None) -> HttpResponse:
        raw_key = _issued_keys.pop(request, None)
        if raw_key is None:
            return super().response_add(request, obj, post_url_continue)
        # The key is rendered into this one response and nowhere else: not the database, not the
        # messages cookie or session, so it cannot be shown again once this page is closed.
        context = {
            **self.admin_site.each_context(request),
            "title": "API key created",
            "opts": self.opts,
            "api_key": obj,
            "raw_key": raw_key,
        }
        response = TemplateResponse(request, "admin/accounts/apikey/issued.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected keys", permissions=["team_write"])
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = 0
        for api_key in queryset.filter(revoked_at__isnull=True).select_related("team"):
            try:
                api_key_revoke(api_key=api_key, actor=acting_actor(request))
            except SERVICE_ERRORS as error:
                self.message_user(request, f"{api_key}: {service_error_message(error)}", messages.ERROR)
            else:
                revoked += 1
        self.message_user(request, f"Revoked {revoked} API key{'' if revoked == 1 else 's'}.", messages.SUCCESS)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin[AuditEvent]):
    """The audit log, read-only; like the UI's and the API's, only for the team's owners (and superusers)."""

    fields = ("created_at", "team", "actor", "action", "target", "surface", "details")
    readonly_fields = fields
    list_display = ("created_at", "team", "actor", "action", "target", "surface")
    list_filter = ("action", "surface", TeamListFilter)
    list_select_related = ("team",)
    search_fields = ("actor", "target")
    date_hierarchy = "created_at"

    def _owned_team_ids(self, request: HttpRequest) -> set[int]:
        # Asked several times per page (module, list, each row): one query per request, kept on the request.
        cached: set[int] | None = getattr(request, "_audit_owned_team_ids", None)
        if cached is None:
            owned = Membership.objects.filter(user=acting_actor(request).user, role=Role.OWNER, user__is_active=True)
            cached = set(owned.values_list("team_id", flat=True))
            request._audit_owned_team_ids = cached  # type: ignore[attr-defined]
        return cached

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEvent]:
        events = super().get_queryset(request)
        if team_access(request).is_superuser:
            return events
        return events.filter(team_id__in=self._owned_team_ids(request))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) and (
            team_access(request).is_superuser or bool(self._owned_team_ids(request))
        )

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not super().has_view_permission(request, obj):
            return False
        if team_access(request).is_superuser:
            return True
        owned = self._owned_team_ids(request)
        return bool(owned) if obj is None else obj.team_id in owned
