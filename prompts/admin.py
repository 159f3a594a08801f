"""Admin pages for prompts, versions, labels and datasets; writes go through prompts.services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from accounts.admin_scoping import (
    SERVICE_ERRORS,
    ModelAdminBase,
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
    service_error_message,
)
from promptopt.input_limits import parse_id
from prompts.admin_forms import (
    DEFAULT_LABEL,
    DatasetAddForm,
    LabelMoveActionForm,
    PromptAddForm,
    PromptChangeForm,
    PromptLabelForm,
    PromptVersionAddForm,
)
from prompts.admin_import import dataset_import_view
from prompts.content import CONTENT_FIELDS
from prompts.models import (
    Dataset,
    DatasetVersion,
    Example,
    Prompt,
    PromptLabel,
    PromptLabelMove,
    PromptVersion,
)
from prompts.selectors import version_latest
from prompts.services import (
    dataset_create,
    dataset_delete,
    dataset_update,
    label_delete,
    label_move,
    prompt_create,
    prompt_delete,
    prompt_update,
    version_create,
)


def _changelist_link(model: type[Any], text: str, **filters: object) -> SafeString:
    opts = model._meta
    query = "&".join(f"{name}={value}" for name, value in filters.items())
    return format_html(
        '<a href="{}?{}">{}</a>', reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"), query, text
    )


# --- Prompts, versions and labels -------------------------------------------------------------------


class VersionCountAdminMixin(ModelAdminBase):
    """A "versions" column for prompts and datasets, counted in the list query rather than per row."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset: QuerySet[Any] = super().get_queryset(request)
        # GROUP BY drops the model's default ordering; keep it so paging and autocomplete stay stable.
        counted: QuerySet[Any] = queryset.annotate(version_count=Count("versions", distinct=True))
        return counted.order_by("team__name", "name")

    @admin.display(description="versions", ordering="version_count")
    def version_count(self, entry: Prompt | Dataset) -> int:
        return getattr(entry, "version_count", 0)


class PromptVersionInline(ReadOnlyInline):
    model = PromptVersion
    fields = ("number", "commit_message", "source", "output_type", "provider", "created_by", "created_at")
    verbose_name_plural = "versions (latest first)"


class PromptLabelInline(ReadOnlyInline):
    model = PromptLabel
    fields = ("name", "version", "updated_by", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[PromptLabel]:
        return super().get_queryset(request).select_related("version__prompt", "updated_by")


class PromptLabelMoveInline(ReadOnlyInline):
    model = PromptLabelMove
    fields = ("label_name", "from_version", "to_version", "moved_by", "moved_at")
    verbose_name_plural = "label history (latest first)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[PromptLabelMove]:
        return super().get_queryset(request).select_related("from_version__prompt", "to_version__prompt", "moved_by")


@admin.register(Prompt)
class PromptAdmin(
    VersionCountAdminMixin, SuperuserDeleteMixin, ServiceAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin[Prompt]
):
    add_form = PromptAddForm
    add_fields = ("team", "name", "slug", "description", "template", "system_instruction", "output_choices")
    form = PromptChangeForm
    fields = ("team", "name", "slug", "description", "archived", "created_by", "created_at", "updated_at")
    readonly_fields = ("team", "slug", "created_by", "created_at", "updated_at")
    list_display = ("name", "slug", "team", "version_count", "archived", "updated_at")
    list_filter = ("archived", TeamListFilter)
    list_select_related = ("team",)
    search_fields = ("name", "slug", "description")
    inlines = (PromptVersionInline, PromptLabelInline, PromptLabelMoveInline)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # The page's buttons start a new version from, or point a label at, the latest version.
        pk = parse_id(object_id)
        prompt = self.get_queryset(request).filter(pk=pk).first() if pk is not None else None
        latest = version_latest(prompt=prompt) if prompt is not None else None
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "latest_version": latest})

    def delete_with_service(self, request: HttpRequest, obj: Prompt) -> None:
        prompt_delete(prompt=obj, actor=acting_actor(request))

    def save_model(self, request: HttpRequest, obj: Prompt, form: Any, change: bool) -> None:
        data = form.cleaned_data
        actor = acting_actor(request)
        if change:
            prompt = call_service(
                lambda: prompt_update(
                    prompt=obj,
                    actor=actor,
                    name=data["name"],
                    description=data["description"],
                    archived=data["archived"],
                )
            )
        else:
            prompt = call_service(
                lambda: prompt_create(
                    team=data["team"],
                    name=data["name"],
                    slug=data["slug"] or None,
                    description=data["description"],
                    actor=actor,
                    first_version=form.first_version(),
                )
            )
        adopt_saved(obj, prompt)


@admin.register(PromptVersion)
class PromptVersionAdmin(ReadOnlyAdminMixin, ServiceAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin[PromptVersion]):
    """Versions are immutable: added through `version_create`, viewed, never edited or deleted here."""

    add_form = PromptVersionAddForm
    add_fields = PromptVersionAddForm.Meta.fields
    autocomplete_fields = ("prompt", "parent")
    fields = (
        "prompt",
        "number",
        "parent",
        "source",
        "commit_message",
        *CONTENT_FIELDS,
        "content_hash",
        "labels_here",
        "created_by",
        "created_at",
        "new_version_link",
    )
    readonly_fields = ("number", "content_hash", "labels_here", "created_by", "created_at", "new_version_link")
    list_display = (
        "__str__",
        "number",
        "labels_here",
        "source",
        "output_type",
        "provider",
        "commit_message",
        "created_by",
        "created_at",
    )
    list_filter = ("source", "layout", "output_type", "provider", TeamListFilter)
    list_select_related = ("prompt", "created_by")
    search_fields = ("prompt__name", "prompt__slug", "commit_message")
    date_hierarchy = "created_at"
    action_form = LabelMoveActionForm
    actions = ("move_label_here",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[PromptVersion]:
        # str(version) names its prompt; the list shows each version's labels: one query each, not one per row.
        return super().get_queryset(request).select_related("prompt").prefetch_related("labels")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_team_write_permission(request)

    @admin.display(description="labels")
    def labels_here(self, version: PromptVersion) -> str:
        return ", ".join(label.name for label in version.labels.all()) or "-"

    @admin.display(description="next steps")
    def new_version_link(self, version: PromptVersion) -> SafeString:
        add_url = reverse("admin:prompts_promptversion_add")
        # The start pages belong to the workflows app's admin; prompts only names their URLs (it never imports
        # workflows, which depends on prompts).
        return format_html(
            '<a href="{}?from_version={}">New version based on this one</a> · '
            '<a href="{}?version={}">Start an optimization</a> · <a href="{}?version={}">Start an evaluation</a>',
            add_url,
            version.pk,
            reverse("admin:workflows_optimizationrun_start"),
            version.pk,
            reverse("admin:workflows_evaluationrun_start"),
            version.pk,
        )

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """`?from_version=ID` pre-fills the add form with that version's content, as its child."""
        initial: dict[str, Any] = dict(super().get_changeform_initial_data(request))
        source_id = request.GET.get("from_version", "")
        pk = parse_id(source_id)
        source = self.get_queryset(request).filter(pk=pk).first() if pk is not None else None
        if source is not None:
            initial.pop("from_version", None)
            initial.update(source.content())
            initial.update(prompt=source.prompt_id, parent=source.pk)
        return initial

    def save_model(self, request: HttpRequest, obj: PromptVersion, form: Any, change: bool) -> None:
        data = form.cleaned_data
        version = call_service(
            lambda: version_create(
                prompt=data["prompt"],
                draft=form.draft(),
                parent=data["parent"],
                commit_message=data["commit_message"],
                actor=acting_actor(request),
            )
        )
        adopt_saved(obj, version)

    @admin.action(description="Move a label to this version", permissions=["team_write"])
    def move_label_here(self, request: HttpRequest, queryset: QuerySet[PromptVersion]) -> None:
        label_name = request.POST.get("label_name", "").strip() or DEFAULT_LABEL
        try:
            validate_slug(label_name)
        except ValidationError:
            self.message_user(
                request, f"“{label_name}” is not a label name: use letters, digits, - and _.", messages.ERROR
            )
            return
        versions = list(queryset[:2])
        if len(versions) != 1:
            self.message_user(request, "Select exactly one version to move a label to.", messages.ERROR)
            return
        version = versions[0]
        try:
            label_move(prompt=version.prompt, name=label_name, version=version, actor=acting_actor(request))
        except SERVICE_ERRORS as error:
            self.message_user(request, service_error_message(error), messages.ERROR)
            return
        self.message_user(
            request, f"{version.prompt.name}:{label_name} now points at version {version.number}.", messages.SUCCESS
        )


@admin.register(PromptLabel)
class PromptLabelAdmin(ServiceDeleteMixin, ServiceAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin[PromptLabel]):
    """Adding or changing a label moves it through `label_move`, which records the move."""

    form = PromptLabelForm
    add_fields = ("prompt", "name", "version")
    fields = ("prompt", "name", "version", "updated_by", "updated_at", "history")
    autocomplete_fields = ("prompt", "version")
    list_display = ("__str__", "prompt", "name", "version_number", "updated_by", "updated_at")
    list_filter = ("name", TeamListFilter)
    list_select_related = ("prompt", "version", "updated_by")
    search_fields = ("name", "prompt__name", "prompt__slug")

    def get_readonly_fields(self, request: HttpRequest, obj: PromptLabel | None = None) -> tuple[str, ...]:
        # A label is its prompt and name; changing it means pointing it at another version.
        return () if obj is None else ("prompt", "name", "updated_by", "updated_at", "history")

    @admin.display(description="history (latest first)")
    def history(self, label: PromptLabel) -> SafeString:
        moves = label.moves.select_related("from_version", "to_version", "moved_by")[:20]
        return format_html_join(
            mark_safe("<br>"),
            "{} → {} by {} at {}",
            (
                (
                    f"v{move.from_version.number}" if move.from_version else "nothing",
                    f"v{move.to_version.number}" if move.to_version else "removed",
                    move.moved_by or "the system",
                    move.moved_at.strftime("%Y-%m-%d %H:%M"),
                )
                for move in moves
            ),
        )

    @admin.display(description="version", ordering="version__number")
    def version_number(self, label: PromptLabel) -> int:
        return label.version.number

    def save_model(self, request: HttpRequest, obj: PromptLabel, form: Any, change: bool) -> None:
        label = call_service(
            lambda: label_move(prompt=obj.prompt, name=obj.name, version=obj.version, actor=acting_actor(request))
        )
        adopt_saved(obj, label)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_team_write_permission(request, obj)

    def delete_with_service(self, request: HttpRequest, obj: PromptLabel) -> None:
        label_delete(label=obj, actor=acting_actor(request))


@admin.register(PromptLabelMove)
class PromptLabelMoveAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin[PromptLabelMove]):
    fields = ("prompt", "label_name", "from_version", "to_version", "moved_by", "moved_at")
    readonly_fields = fields
    list_display = ("prompt", "label_name", "from_version", "to_version", "moved_by", "moved_at")
    list_filter = ("label_name", TeamListFilter)
    list_select_related = ("prompt", "from_version__prompt", "to_version__prompt", "moved_by")
    search_fields = ("label_name", "prompt__name", "prompt__slug")
    date_hierarchy = "moved_at"


# --- Datasets, versions and examples ----------------------------------------------------------------


class DatasetVersionInline(ReadOnlyInline):
    model = DatasetVersion
    fields = ("number", "row_count", "split_counts", "source_name", "created_by", "created_at")
    verbose_name_plural = "versions (latest first)"


@admin.register(Dataset)
class DatasetAdmin(
    VersionCountAdminMixin, SuperuserDeleteMixin, ServiceAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin[Dataset]
):
    add_form = DatasetAddForm
    add_fields = ("team", "name", "slug", "description")
    fields = ("team", "name", "slug", "description", "archived", "created_by", "created_at")
    readonly_fields = ("created_by", "created_at")
    list_display = ("name", "slug", "team", "version_count", "archived", "created_at")
    list_filter = ("archived", TeamListFilter)
    list_select_related = ("team",)
    search_fields = ("name", "slug", "description")
    inlines = (DatasetVersionInline,)

    def get_urls(self) -> list[URLPattern]:
        import_url = path(
            "import/",
            self.admin_site.admin_view(lambda request: dataset_import_view(self, request)),
            name="prompts_dataset_import",
        )
        return [import_url, *super().get_urls()]

    def get_readonly_fields(self, request: HttpRequest, obj: Dataset | None = None) -> tuple[str, ...]:
        # Team and slug identify the dataset to commands and clients; data changes arrive as new versions.
        return () if obj is None else ("team", "slug", "created_by", "created_at")

    def delete_with_service(self, request: HttpRequest, obj: Dataset) -> None:
        dataset_delete(dataset=obj, actor=acting_actor(request))

    def save_model(self, request: HttpRequest, obj: Dataset, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if change:
            updated = call_service(
                lambda: dataset_update(
                    dataset=obj,
                    name=data["name"],
                    description=data["description"],
                    archived=data["archived"],
                    actor=acting_actor(request),
                )
            )
            adopt_saved(obj, updated)
            return
        dataset = call_service(
            lambda: dataset_create(
                team=data["team"],
                name=data["name"],
                slug=data["slug"] or None,
                description=data["description"],
                actor=acting_actor(request),
            )
        )
        adopt_saved(obj, dataset)


class ExampleInline(ReadOnlyInline):
    model = Example
    fields = ("position", "split", "inputs", "expected_output", "accepted_answers")
    verbose_name_plural = "examples (first rows)"


@admin.register(DatasetVersion)
class DatasetVersionAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin[DatasetVersion]):
    """Dataset versions are immutable; they are created by importing a file, not here."""

    fields = (
        "dataset",
        "number",
        "row_count",
        "examples_link",
        "input_fields",
        "split_counts",
        "split_seed",
        "source_name",
        "content_hash",
        "created_by",
        "created_at",
    )
    readonly_fields = fields
    list_display = ("__str__", "dataset", "number", "row_count", "split_counts", "source_name", "created_at")
    list_filter = (TeamListFilter,)
    list_select_related = ("dataset",)
    search_fields = ("dataset__name", "dataset__slug", "source_name")
    date_hierarchy = "created_at"
    inlines = (ExampleInline,)

    @admin.display(description="examples")
    def examples_link(self, version: DatasetVersion) -> SafeString:
        return _changelist_link(Example, f"Browse all {version.row_count} examples", version__id__exact=version.pk)


@admin.register(Example)
class ExampleAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin[Example]):
    fields = ("version", "position", "split", "inputs", "expected_output", "accepted_answers")
    readonly_fields = fields
    list_display = ("__str__", "version", "position", "split", "inputs", "expected_output")
    list_filter = ("split", TeamListFilter)
    list_select_related = ("version__dataset",)
    search_fields = ("inputs", "expected_output")  # inputs: a text search over the JSON object
    # Follows the (version, position) unique index; a version may hold 100,000 rows.
    ordering = ("version_id", "position")
    list_per_page = 100
    show_full_result_count = False
