"""Web UI pages for people and their teams: sign in and out, password change, the team landing, API keys, the
audit log."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse, reverse_lazy
from django.views.decorators.http import require_POST

from accounts.actors import Actor
from accounts.audit import audit_event_list
from accounts.models import ApiKeyScope, AuditAction
from accounts.selectors import api_key_list, team_list_visible_to
from accounts.services import api_key_create, api_key_revoke
from promptopt.errors import PromptOptError
from promptopt.surface import Surface
from promptopt.ui import TeamRequest, add_service_error, page, paginate, team_page


class SignInView(auth_views.LoginView):
    """Django's sign-in (django-axes counts failures per account and address and locks with a 429)."""

    template_name = "ui/sign_in.html"
    redirect_authenticated_user = True


class SignOutView(auth_views.LogoutView):
    next_page = "ui:sign_in"


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "ui/password_change.html"
    success_url = reverse_lazy("ui:home")

    def form_valid(self, form: Any) -> HttpResponse:
        messages.success(self.request, "Your password was changed.")
        return super().form_valid(form)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The first team's dashboard; a person in no team yet is told what to ask for."""
    teams = team_list_visible_to(actor=Actor.for_user(request.user)).order_by("name")
    first = teams.first()
    if first is not None:
        return HttpResponseRedirect(reverse("ui:dashboard", args=[first.slug]))
    return page(request, "ui/no_team.html")


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses the key, e.g. “production app” or “CI”.")
    scope = forms.ChoiceField(choices=ApiKeyScope.choices, initial=ApiKeyScope.READ)


@team_page
def api_keys(request: TeamRequest) -> HttpResponse:
    """The team's keys with their last use; a new key is shown once, right after it is made."""
    form = ApiKeyForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = api_key_create(
                team=request.team,
                name=form.cleaned_data["name"],
                scope=ApiKeyScope(form.cleaned_data["scope"]),
                actor=request.actor,
            )
        except (ValidationError, PromptOptError) as error:
            add_service_error(form, error)
        else:
            form = ApiKeyForm()
    keys = api_key_list(actor=request.actor, team=request.team).select_related("created_by").order_by("name")
    return page(request, "ui/api_keys.html", {"form": form, "keys": keys, "issued": issued})


@require_POST
@team_page
def api_key_revoke_view(request: TeamRequest, prefix: str) -> HttpResponse:
    key = api_key_list(actor=request.actor, team=request.team).filter(prefix=prefix).first()
    if key is None:
        messages.error(request, "No such key (it may have been revoked already).")
    else:
        try:
            api_key_revoke(api_key=key, actor=request.actor)
        except PromptOptError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"Key {key.name} ({key.prefix}…) is revoked; it no longer works.")
    return HttpResponseRedirect(reverse("ui:api_keys", args=[request.team.slug]))


@team_page
def audit_log(request: TeamRequest) -> HttpResponse:
    """Who changed what, when and from where, newest first; owners only. Filters: kind of change, surface."""
    try:
        events = audit_event_list(actor=request.actor, team=request.team)
    except PromptOptError as error:
        raise PermissionDenied(str(error)) from None
    action = request.GET.get("action") if request.GET.get("action") in AuditAction.values else None
    surface = request.GET.get("surface") if request.GET.get("surface") in Surface.values else None
    if action:
        events = events.filter(action=action)
    if surface:
        events = events.filter(surface=surface)
    context = {
        "events": paginate(request, events),
        "actions": AuditAction.choices,
        "surfaces": Surface.choices,
        "action": action,
        "surface": surface,
    }
    return page(request, "ui/audit_log.html", context)
