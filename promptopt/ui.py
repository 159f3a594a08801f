"""Plumbing shared by the web UI's views: the team in the URL, the actor, pagination and service errors.

Every UI page lives under `/t/<team>/`; the team is looked up in the signed-in person's tenant scope (the
same as the API's and the admin's), so another team's page is a 404 and a viewer's pages carry no write
controls (`can_write` in every template; `is_owner` for the owners' pages).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.forms import BaseForm
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.actors import Actor
from accounts.models import Team
from accounts.selectors import team_get, team_list_visible_to
from promptopt.errors import NotFoundError, PromptOptError

PAGE_SIZE = 25

View = Callable[..., HttpResponse]


class TeamRequest(HttpRequest):
    """What `team_page` adds to the request (for the type checker; the attributes are set at run time)."""

    actor: Actor
    team: Team
    can_write: bool
    is_owner: bool


def _signed_out_htmx(request: HttpRequest) -> HttpResponse | None:
    """A poll or partial request after the session ended: the whole page goes to sign-in (a plain redirect
    would swap the sign-in form into the part being updated)."""
    if request.user.is_authenticated or not request.headers.get("HX-Request"):
        return None
    current = request.headers.get("HX-Current-URL", "")
    response = HttpResponse(status=204)
    response["HX-Redirect"] = redirect_to_login(urlsplit(current).path or request.path).url
    return response


def team_page(view: View) -> View:
    """Signed in, and the URL's team visible to the person (404 otherwise, as for a team that does not exist).
    A NotFoundError the view leaves uncaught (a prompt, dataset or run outside the person's scope) is a 404 too,
    so views call the selectors directly."""

    def signed_in_first(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return _signed_out_htmx(request) or protected(request, *args, **kwargs)

    @login_required
    @functools.wraps(view)
    def protected(request: HttpRequest, team: str, *args: Any, **kwargs: Any) -> HttpResponse:
        actor = Actor.for_user(request.user)
        try:
            found = team_get(actor=actor, slug=team)
        except NotFoundError as error:
            raise Http404(str(error)) from None
        request.actor = actor  # type: ignore[attr-defined]
        request.team = found  # type: ignore[attr-defined]
        request.can_write = actor.can_write(found)  # type: ignore[attr-defined]
        request.is_owner = actor.is_owner_of(found)  # type: ignore[attr-defined]
        try:
            return view(request, *args, **kwargs)
        except NotFoundError as error:
            raise Http404(str(error)) from None

    return functools.wraps(view)(signed_in_first)


def require_write(request: TeamRequest) -> None:
    """Pages that exist only to change something answer a viewer with 403 and the reason."""
    if not request.can_write:
        raise PermissionDenied(
            f"Your role in {request.team.name} can see everything but change nothing; an owner can make you an editor."
        )


def ui_frame(request: HttpRequest) -> dict[str, Any]:
    """Context processor: what every page's frame needs, on every page (error pages and Django's auth views
    too): the team of the URL, the teams for the switcher (a lazy queryset: pages that do not show it, such
    as the admin's, never query it), and whether the person may write there."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    actor: Actor = getattr(request, "actor", None) or Actor.for_user(user)
    return {
        "team": getattr(request, "team", None),
        "teams": team_list_visible_to(actor=actor).order_by("name"),
        "can_write": getattr(request, "can_write", False),
        "is_owner": getattr(request, "is_owner", False),
    }


def page(request: HttpRequest, template: str, context: dict[str, Any] | None = None, status: int = 200) -> HttpResponse:
    """Render a UI page (the frame comes from `ui_frame`)."""
    return render(request, template, context or {}, status=status)


def paginate(request: HttpRequest, rows: QuerySet[Any] | Sequence[Any], per_page: int = PAGE_SIZE) -> Page[Any]:
    return Paginator(rows, per_page).get_page(request.GET.get("page"))


def add_service_error(form: BaseForm, error: ValidationError | PromptOptError) -> None:
    """A service's refusal on the form: field errors on their fields, the rest at the top."""
    if isinstance(error, ValidationError) and hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            if field in form.fields:
                form.add_error(field, messages)
            else:
                prefix = "" if field == NON_FIELD_ERRORS else f"{field}: "
                form.add_error(None, [prefix + message for message in messages])
        return
    form.add_error(None, error.messages if isinstance(error, ValidationError) else [str(error)])
