"""Admin plumbing shared by every app: team scoping and role permissions, read-only records, service saves."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from django.contrib import admin, messages
from django.contrib.admin import AdminSite
from django.contrib.admin.utils import flatten
from django.contrib.auth.models import User
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db.models import ForeignKey, Model, Q, QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from accounts.actors import Actor
from accounts.scope import team_condition, team_id_of
from accounts.selectors import team_list_visible_to, team_list_writable_by
from promptopt.errors import PromptOptError
from promptopt.input_limits import parse_id

if TYPE_CHECKING:
    from django.contrib.admin.options import BaseModelAdmin

    _AnyAdminBase = BaseModelAdmin[Any]
    ModelAdminBase = admin.ModelAdmin[Any]
else:
    _AnyAdminBase = object
    ModelAdminBase = object


SavedModel = TypeVar("SavedModel", bound=Model)
Result = TypeVar("Result")

# What services raise for a request they refuse; both carry messages that are safe to show the user.
SERVICE_ERRORS = (ValidationError, PromptOptError)

# Inlines show at most this many related rows: a dataset version may hold 100,000 examples.
INLINE_ROW_LIMIT = 50


@dataclass(frozen=True)
class TeamAccess:
    """The teams a request's user may see (any role) and change (owner or editor)."""

    is_superuser: bool
    visible: frozenset[int]
    writable: frozenset[int]


# One admin page asks for permissions dozens of times (the index asks every model admin four times);
# the answer cannot change within a request unless the request itself changes roles, which calls forget.
_access_by_request: weakref.WeakKeyDictionary[HttpRequest, TeamAccess] = weakref.WeakKeyDictionary()


def team_access(request: HttpRequest) -> TeamAccess:
    access = _access_by_request.get(request)
    if access is None:
        user = request.user
        if not (user.is_active and getattr(user, "is_staff", False)):
            access = TeamAccess(is_superuser=False, visible=frozenset(), writable=frozenset())
        elif getattr(user, "is_superuser", False):
            access = TeamAccess(is_superuser=True, visible=frozenset(), writable=frozenset())
        else:
            # The same scope as the selectors and the API: the admin only caches its answer per request.
            actor = acting_actor(request)
            access = TeamAccess(
                is_superuser=False,
                visible=frozenset(team_list_visible_to(actor=actor).values_list("pk", flat=True)),
                writable=frozenset(team_list_writable_by(actor=actor).values_list("pk", flat=True)),
            )
        _access_by_request[request] = access
    return access


def forget_team_access(request: HttpRequest) -> None:
    """Call after a change of the user's own roles (e.g. creating a team) so later checks see it."""
    _access_by_request.pop(request, None)


def acting_actor(request: HttpRequest) -> Actor:
    """The signed-in user as the services' actor (the admin site only serves signed-in staff)."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return Actor.for_user(user)


def _registered_admin(site: AdminSite, model: type[Model]) -> TeamScopedAdminMixin | None:
    """The team-scoped admin registered for `model`, which knows the model's path to its team."""
    if not site.is_registered(model):
        return None
    model_admin = site.get_model_admin(model)
    return model_admin if isinstance(model_admin, TeamScopedAdminMixin) else None


def _is_autocomplete(request: HttpRequest) -> bool:
    match = request.resolver_match
    return match is not None and match.url_name == "autocomplete"


class TeamScopedAdminMixin(_AnyAdminBase):
    """Limits a model admin or inline to the request user's teams; team roles, not model permissions, decide.

    Superusers see everything and may do whatever the admin class allows. Other staff see the objects of
    teams they belong to (any role) and may add, change and run actions only for teams where they are an
    owner or editor. Filtering `get_queryset` is what turns another team's object URL into "doesn't exist".
    Nothing is deletable unless a subclass says so (only superusers, only for a few models).
    """

    def team_condition(self, team_ids: Iterable[int]) -> Q:
        # The model's own TEAM_PATHS (accounts.scope), as the selectors and the API use them.
        return team_condition(self.model, list(team_ids))

    def team_id_of(self, obj: Model) -> int | None:
        return team_id_of(obj)

    def _team_id_of_any(self, obj: Model) -> int | None:
        if isinstance(obj, self.model):
            return self.team_id_of(obj)
        # Inlines are asked about their parent object; the parent's admin knows how to find its team.
        parent_admin = _registered_admin(self.admin_site, type(obj))
        return parent_admin.team_id_of(obj) if parent_admin is not None else None

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        access = team_access(request)
        if access.is_superuser:
            return queryset
        # Autocomplete results become form choices, and forms only accept the user's writable teams.
        team_ids = access.writable if _is_autocomplete(request) else access.visible
        return queryset.filter(self.team_condition(team_ids))

    def formfield_for_foreignkey(self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any) -> Any:
        access = team_access(request)
        related_model = db_field.related_model
        if not access.is_superuser and "queryset" not in kwargs and isinstance(related_model, type):
            related_admin = _registered_admin(self.admin_site, related_model)
            if related_admin is not None:
                # A dropdown only offers what the user may write to: their owner/editor teams' objects.
                kwargs["queryset"] = related_model._default_manager.filter(
                    related_admin.team_condition(access.writable)
                )
        if db_field.name == "team" and "initial" not in kwargs:
            # Most people belong to one team: choose it for them instead of showing an empty dropdown.
            writable_teams = list(access.writable)
            if len(writable_teams) == 1:
                kwargs["initial"] = writable_teams[0]
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_module_permission(self, request: HttpRequest) -> bool:
        access = team_access(request)
        return access.is_superuser or bool(access.visible)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        access = team_access(request)
        if access.is_superuser:
            return True
        if obj is None:
            return bool(access.visible)
        return self._team_id_of_any(obj) in access.visible

    def has_team_write_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Owner or editor of the object's team (or of any team, without an object); named for actions."""
        access = team_access(request)
        if access.is_superuser:
            return True
        if obj is None:
            return bool(access.writable)
        return self._team_id_of_any(obj) in access.writable

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_team_write_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_team_write_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdminMixin(_AnyAdminBase):
    """Records that are never added, changed or deleted from the admin (immutable history, engine output).

    Put it before TeamScopedAdminMixin: viewing stays scoped by team, everything else is refused, which
    also makes Django render the change page without save buttons and answer a POST with 403.
    """

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class FirstRowsInlineFormSet(BaseInlineFormSet[Any, Any, Any]):
    """Shows only the first INLINE_ROW_LIMIT related rows and links to the filtered list for the rest."""

    row_limit = INLINE_ROW_LIMIT
    total_count = 0
    _first_rows: QuerySet[Any] | None = None

    def get_queryset(self) -> QuerySet[Any]:
        if self._first_rows is None:
            rows = super().get_queryset()
            self.total_count = rows.count()
            # Slice after the parent filter: a sliced queryset can no longer be filtered.
            self._first_rows = rows[: self.row_limit]
        return self._first_rows

    @property
    def is_truncated(self) -> bool:
        self.get_queryset()
        return self.total_count > self.row_limit

    @property
    def browse_all_url(self) -> str:
        opts = self.model._meta
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        return f"{changelist}?{self.fk.name}__id__exact={self.instance.pk}"


class ReadOnlyInline(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.TabularInline[Any, Any]):
    """A read-only, team-scoped table of related rows, limited to the first INLINE_ROW_LIMIT."""

    formset = FirstRowsInlineFormSet
    template = "admin/edit_inline/tabular_first_rows.html"
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Every shown field is read-only, so the inline's form has no inputs that could be posted.
        return flatten(self.fields or ())


class ServiceRefusalError(Exception):
    """A service refused a save; carries the reason as a ValidationError for the form."""

    def __init__(self, error: ValidationError | PromptOptError) -> None:
        super().__init__(str(error))
        self.error = error if isinstance(error, ValidationError) else ValidationError(str(error))


def call_service(service: Callable[[], Result]) -> Result:
    """Run a service for a form save; a refusal becomes ServiceRefusalError, which ServiceAdminMixin shows."""
    try:
        return service()
    except SERVICE_ERRORS as error:
        raise ServiceRefusalError(error) from error


def service_error_message(error: ValidationError | PromptOptError) -> str:
    """One line for an admin message (actions report per object, there is no form to attach errors to)."""
    if isinstance(error, ValidationError):
        return "; ".join(str(message) for message in error.messages)
    return str(error)


def adopt_saved(target: SavedModel, saved: SavedModel) -> None:
    """Make the admin's unsaved form instance the record a service saved, so logging and redirects use it."""
    for field in saved._meta.concrete_fields:
        setattr(target, field.attname, getattr(saved, field.attname))
    target._state.adding = False
    target._state.db = saved._state.db


def _add_refusal(form: ModelForm[Any], refusal: ValidationError) -> None:
    if not hasattr(refusal, "error_dict"):
        form.add_error(None, refusal)
        return
    for field, errors in refusal.error_dict.items():
        if field in form.fields:
            form.add_error(field, errors)
        else:
            messages = ValidationError(errors).messages
            prefix = "" if field == NON_FIELD_ERRORS else f"{field}: "
            form.add_error(None, [f"{prefix}{message}" for message in messages])


def _form_with_refusal(form_class: type[ModelForm[Any]], refusal: ValidationError) -> type[ModelForm[Any]]:
    def clean(form: ModelForm[Any]) -> dict[str, Any] | None:
        cleaned = form_class.clean(form)
        _add_refusal(form, refusal)
        return cleaned

    return type(form_class.__name__, (form_class,), {"clean": clean})


# The service's refusal for a request, attached to the form when the view renders the submission again.
_refusal_by_request: weakref.WeakKeyDictionary[HttpRequest, ValidationError] = weakref.WeakKeyDictionary()


class ServiceAdminMixin(ModelAdminBase):
    """Saves through services, with a separate add form, and shows a service's refusal on the form.

    Subclasses call their service in `save_model` through `call_service` and `adopt_saved`. When the
    service refuses, the view's transaction rolls back and the same submission is rendered again with
    the reason as form errors: the user keeps what they typed, and no refusal becomes a server error.
    """

    add_form: type[ModelForm[Any]] | None = None
    add_fields: Sequence[str] | None = None

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None and self.add_fields is not None:
            return list(self.add_fields)
        return super().get_fields(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str] | tuple[str, ...]:
        # Read-only details (timestamps, hashes) describe a saved record; an add form has none yet.
        return () if obj is None else super().get_readonly_fields(request, obj)

    def get_inlines(self, request: HttpRequest, obj: Any) -> Any:
        return [] if obj is None else super().get_inlines(request, obj)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None and self.add_form is not None:
            kwargs.setdefault("form", self.add_form)
        form_class = super().get_form(request, obj, change=change, **kwargs)
        refusal = _refusal_by_request.get(request)
        return form_class if refusal is None else _form_with_refusal(form_class, refusal)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRefusalError as refusal:
            _refusal_by_request[request] = refusal.error
            return super().changeform_view(request, object_id, form_url, extra_context)


class ServiceDeleteMixin(ModelAdminBase):
    """Deletes through a service (`delete_with_service`); a refusal becomes an error message, not a 500."""

    def delete_with_service(self, request: HttpRequest, obj: Any) -> None:
        raise NotImplementedError

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        call_service(lambda: self.delete_with_service(request, obj))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for obj in queryset:
            self.delete_model(request, obj)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        _listing, counts, _refused, protected = super().get_deleted_objects(objs, request)
        # Rows that go with the deleted object (versions, examples, history) have admins that refuse
        # one-by-one deletion; the service decides here, so their refusal must not veto it. And a
        # dataset can take 100,000 examples with it: the page says how many of each, not which.
        summary = [str(obj) for obj in objs] + [f"{count} {name}" for name, count in counts.items()]
        return summary, counts, set(), protected

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None) -> Any:
        try:
            return super().delete_view(request, object_id, extra_context)
        except ServiceRefusalError as refusal:
            self.message_user(request, service_error_message(refusal.error), messages.ERROR)
            return HttpResponseRedirect(request.path)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        try:
            return super().changelist_view(request, extra_context)
        except ServiceRefusalError as refusal:  # the bulk "delete selected" action
            self.message_user(request, service_error_message(refusal.error), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class SuperuserDeleteMixin(ServiceDeleteMixin):
    """Deleting a whole team, prompt or dataset cascades to its history: only superusers may."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return team_access(request).is_superuser


class TeamListFilter(admin.SimpleListFilter):
    """Filter by one of the user's teams, along whatever path the model admin declares to its team."""

    title = "team"
    parameter_name = "team"

    def __init__(self, request: HttpRequest, params: dict[str, str], model: type[Model], model_admin: Any) -> None:
        self._model_admin = model_admin  # set first: the base __init__ already asks for lookups
        super().__init__(request, params, model, model_admin)

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(team.pk), team.name) for team in team_list_visible_to(actor=acting_actor(request))]

    def has_output(self) -> bool:
        return len(self.lookup_choices) > 1  # a filter with one team would filter nothing

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        team_id = parse_id(self.value())
        model_admin = self._model_admin
        if team_id is None or not isinstance(model_admin, TeamScopedAdminMixin):
            return queryset
        return queryset.filter(model_admin.team_condition([team_id]))
