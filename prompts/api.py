"""API for prompts (versions, diffs, labels, resolve, render) and datasets (versions, uploads, examples)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Max, Prefetch, QuerySet
from django.utils.http import quote_etag
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.scope import visible_to
from promptopt.api.exceptions import PayloadTooLarge
from promptopt.api.parsers import StrictJSONParser
from promptopt.api.viewsets import TeamScopedViewSet, validated_body
from promptopt.errors import NotFoundError
from promptopt.input_limits import MAX_SEED, parse_id
from prompts.content import CONTENT_FIELDS, PromptContent
from prompts.diff import changed_fields, unified_text_diff
from prompts.importers import DatasetFileError, ImportOptions, parse_split_map
from prompts.models import (
    Dataset,
    DatasetVersion,
    Example,
    Layout,
    OutputType,
    Prompt,
    PromptLabel,
    PromptVersion,
    Provider,
    VersionSource,
)
from prompts.rendering import render
from prompts.resolve_cache import resolved_get, resolved_put
from prompts.services import (
    SplitSettings,
    content_from_input,
    dataset_delete,
    dataset_update,
    dataset_version_import,
    label_delete,
    label_move,
    prompt_create,
    prompt_delete,
    prompt_update,
    version_create,
)
from prompts.splits import ALL_SPLITS, Split


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


# --- content ------------------------------------------------------------------------------------------


class DemonstrationSerializer(serializers.Serializer[Any]):
    inputs = serializers.DictField(child=serializers.CharField(allow_blank=True, trim_whitespace=False))
    output = serializers.CharField(trim_whitespace=False)


class VersionContentSerializer(serializers.Serializer[Any]):
    """A version's content, as it is sent and received; the version service checks every limit."""

    system_instruction = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    template = serializers.CharField(trim_whitespace=False)
    demonstrations = DemonstrationSerializer(many=True, required=False, default=list)
    layout = serializers.ChoiceField(choices=Layout.choices, default=Layout.CHAT)
    output_type = serializers.ChoiceField(choices=OutputType.choices, default=OutputType.TEXT)
    output_choices = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    output_schema = serializers.JSONField(required=False, allow_null=True, default=None)
    provider = serializers.ChoiceField(choices=Provider.choices, default=Provider.LOCAL)
    model_name = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    temperature = serializers.FloatField(default=0.0)
    max_tokens = serializers.IntegerField(default=256)
    stop = serializers.ListField(
        child=serializers.CharField(trim_whitespace=False),
        required=False,
        default=list,
        help_text='Texts that end an answer where they appear, e.g. ["\\n"] for a one-line answer (at most 4).',
    )

    def draft(self) -> PromptContent:
        data = self.validated_data
        return content_from_input({name: data[name] for name in CONTENT_FIELDS})


class VersionCreateIn(VersionContentSerializer):
    # DRF takes declared fields out of the class, so "parent" does not shadow Field.parent at run time.
    parent = serializers.IntegerField(  # type: ignore[assignment]
        required=False, help_text="Version number to continue from; default latest."
    )
    commit_message = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


@extend_schema_field({"type": ["object", "null"], "description": "A JSON Schema, for JSON outputs."})
class NullableSchemaField(serializers.JSONField):
    """A version's output schema: an object or null (drf-spectacular's default for a nullable JSON column
    is a oneOf that null matches twice, which no validator accepts)."""


def stops_out() -> serializers.ListField:
    """A version's stop sequences as responses show them (typed: the JSON column alone says nothing)."""
    return serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Texts that end an answer where they appear."
    )


class VersionOut(serializers.ModelSerializer[PromptVersion]):
    output_schema = NullableSchemaField(read_only=True, allow_null=True)
    stop = stops_out()
    parent = serializers.IntegerField(source="parent.number", read_only=True, default=None, allow_null=True)  # type: ignore[assignment]
    created_by = serializers.SerializerMethodField()
    labels = serializers.SerializerMethodField()

    class Meta:
        model = PromptVersion
        fields = (
            "number",
            "parent",
            "source",
            "commit_message",
            "content_hash",
            "created_by",
            "created_at",
            "labels",
            *CONTENT_FIELDS,
        )
        read_only_fields = fields

    def get_created_by(self, version: PromptVersion) -> str | None:
        if version.created_by_api_key_id is not None:
            return f"API key {version.created_by_api_key.prefix}" if version.created_by_api_key else None
        return _username(version.created_by)

    def get_labels(self, version: PromptVersion) -> list[str]:
        return sorted(label.name for label in version.labels.all())


# --- parents in the URL --------------------------------------------------------------------------------


def _parent_prompt(view: TeamScopedViewSet) -> Prompt:
    """The prompt the URL names, in the URL's team: a list under a missing prompt is a 404, not an empty page."""
    found: Prompt | None = getattr(view, "_parent_prompt", None)
    if found is None:
        found = Prompt.objects.filter(team=view.team, slug=view.kwargs["prompt"]).first()
        if found is None:
            raise NotFoundError(f"team {view.team.slug!r} has no prompt {view.kwargs['prompt']!r}")
        view._parent_prompt = found  # type: ignore[attr-defined]
    return found


def _parent_dataset(view: TeamScopedViewSet) -> Dataset:
    found: Dataset | None = getattr(view, "_parent_dataset", None)
    if found is None:
        found = Dataset.objects.filter(team=view.team, slug=view.kwargs["dataset"]).first()
        if found is None:
            raise NotFoundError(f"team {view.team.slug!r} has no dataset {view.kwargs['dataset']!r}")
        view._parent_dataset = found  # type: ignore[attr-defined]
    return found


# --- prompts ------------------------------------------------------------------------------------------


class PromptOut(serializers.ModelSerializer[Prompt]):
    latest_version = serializers.IntegerField(read_only=True, allow_null=True)
    labels = serializers.SerializerMethodField()

    class Meta:
        model = Prompt
        fields = ("slug", "name", "description", "archived", "latest_version", "labels", "created_at", "updated_at")
        read_only_fields = fields

    def get_labels(self, prompt: Prompt) -> dict[str, int]:
        return {label.name: label.version.number for label in prompt.labels.all()}


class PromptCreateIn(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=100, required=False)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    first_version = VersionContentSerializer(required=False)
    commit_message = serializers.CharField(required=False, default="Initial version", max_length=500)


class PromptUpdateIn(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    archived = serializers.BooleanField(required=False)


class ResolvedVersionOut(serializers.ModelSerializer[PromptVersion]):
    """What a client application needs to run the prompt: its number, content hash and content."""

    output_schema = NullableSchemaField(read_only=True, allow_null=True)
    stop = stops_out()

    class Meta:
        model = PromptVersion
        fields = ("number", "content_hash", "created_at", *CONTENT_FIELDS)
        read_only_fields = fields


class ResolvedOut(serializers.Serializer[Any]):
    prompt = serializers.CharField()
    label = serializers.CharField(allow_null=True)  # type: ignore[assignment]
    version = ResolvedVersionOut()


class PromptViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """A team's prompts. Their content lives in immutable versions; labels such as `production` point at one."""

    scoped_model = Prompt
    serializer_class = PromptOut
    lookup_field = "slug"
    lookup_url_kwarg = "prompt"
    search_fields = ("name", "slug", "description")
    ordering_fields = ("name", "slug", "created_at", "updated_at")
    ordering = ("name", "id")

    def narrow(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        archived = self.choice_param("archived", ["true", "false"])
        if archived is not None:
            rows = rows.filter(archived=archived == "true")
        annotated: QuerySet[Any] = rows.annotate(latest_version=Max("versions__number"))
        return annotated.prefetch_related(Prefetch("labels", queryset=PromptLabel.objects.select_related("version")))

    @extend_schema(request=PromptCreateIn, responses={201: PromptOut})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = validated_body(PromptCreateIn, request)
        first = data.get("first_version")
        draft = content_from_input({name: first[name] for name in CONTENT_FIELDS}) if first else None
        prompt = prompt_create(
            team=self.team,
            name=data["name"],
            slug=data.get("slug"),
            description=data["description"],
            actor=self.actor,
            first_version=draft,
            commit_message=data["commit_message"],
        )
        return Response(PromptOut(self.get_queryset().get(pk=prompt.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=PromptUpdateIn, responses=PromptOut)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = validated_body(PromptUpdateIn, request)
        prompt = prompt_update(prompt=self.get_object(), actor=self.actor, **data)
        return Response(PromptOut(self.get_queryset().get(pk=prompt.pk)).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        prompt_delete(prompt=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=[OpenApiParameter("archived", bool, description="Only archived, or only active.")])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        parameters=[
            OpenApiParameter("label", str, description="The label to resolve; default production."),
            OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER, description="An ETag from before."),
        ],
        responses={200: ResolvedOut, 304: None},
    )
    @action(detail=True, methods=["get"])
    def resolve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The version a label points at, with an ETag: a client polls cheaply with If-None-Match (304)."""
        # The hot path of every client application: one query for the label with its version, within the
        # actor's scope and the URL's team (order_by() drops the model's ordering, which would join the prompt).
        slug, name = kwargs["prompt"], request.query_params.get("label", "production")
        answer = resolved_get(team_id=self.team.pk, prompt_slug=slug, label=name) or self._resolve(slug, name)
        etag = answer["etag"]
        if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
        return Response(answer["body"], headers={"ETag": etag, "Cache-Control": "private, no-cache"})

    def _resolve(self, slug: str, name: str) -> dict[str, Any]:
        label = (
            visible_to(PromptLabel, self.actor)
            .filter(prompt__team=self.team, prompt__slug=slug, name=name)
            .select_related("version")
            .order_by()
            .first()
        )
        if label is None:
            if not Prompt.objects.filter(team=self.team, slug=slug).exists():
                raise NotFoundError(f"team {self.team.slug!r} has no prompt {slug!r}")
            raise NotFoundError(f"prompt {slug!r} has no label {name!r}")
        version = label.version
        # The body is the version's content and nothing that changes without it, so the version's id and
        # content hash are the whole ETag: moving the label to another version changes it.
        answer = {
            "etag": quote_etag(f"{version.pk}-{version.content_hash[:20]}"),
            "body": {"prompt": slug, "label": name, "version": dict(ResolvedVersionOut(version).data)},
        }
        resolved_put(team_id=self.team.pk, prompt_slug=slug, label=name, answer=answer)
        return answer


class VersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """A prompt's versions, newest first. Creating one adds a version; versions never change afterwards."""

    scoped_model = PromptVersion
    serializer_class = VersionOut
    lookup_field = "number"
    lookup_value_regex = r"\d+"
    ordering_fields = ("number", "created_at")
    ordering = ("-number",)

    def narrow(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        source = self.choice_param("source", list(VersionSource.values))
        if source is not None:
            rows = rows.filter(source=source)
        return (
            rows.filter(prompt=_parent_prompt(self))
            .select_related("parent", "created_by", "created_by_api_key")
            .prefetch_related("labels")
        )

    @extend_schema(parameters=[OpenApiParameter("source", str, enum=list(VersionSource.values))])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=VersionCreateIn, responses={201: VersionOut})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        prompt = _parent_prompt(self)
        serializer = VersionCreateIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        parent = None
        if "parent" in serializer.validated_data:
            parent = prompt.versions.filter(number=serializer.validated_data["parent"]).first()
            if parent is None:
                raise serializers.ValidationError({"parent": ["no such version of this prompt"]})
        version = version_create(
            prompt=prompt,
            draft=serializer.draft(),
            actor=self.actor,
            parent=parent,
            commit_message=serializer.validated_data["commit_message"],
        )
        return Response(VersionOut(self.get_queryset().get(pk=version.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses=inline_serializer(
            "VersionDiff",
            {
                "prompt": serializers.CharField(),
                "a": serializers.IntegerField(),
                "b": serializers.IntegerField(),
                "changes": inline_serializer(
                    "FieldChange",
                    {
                        "field": serializers.CharField(),
                        "before": serializers.JSONField(),
                        "after": serializers.JSONField(),
                    },
                    many=True,
                ),
                "text": serializers.CharField(help_text="A unified diff of the two versions as readable text."),
            },
        )
    )
    @action(detail=True, methods=["get"], url_path=r"diff/(?P<other>\d+)")
    def diff(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """What changed from this version to another: field by field, and as a unified text diff."""
        before = self.get_object()
        after = self.get_queryset().filter(number=int(kwargs["other"])).first()
        if after is None:
            raise NotFoundError(f"prompt {self.kwargs['prompt']!r} has no version {kwargs['other']}")
        changes = changed_fields(before.content(), after.content())
        return Response(
            {
                "prompt": self.kwargs["prompt"],
                "a": before.number,
                "b": after.number,
                "changes": [{"field": c.field, "before": c.before, "after": c.after} for c in changes],
                "text": unified_text_diff(
                    before.content(), after.content(), names=(f"version {before.number}", f"version {after.number}")
                ),
            }
        )

    @extend_schema(
        request=inline_serializer("RenderIn", {"variables": serializers.DictField(child=serializers.CharField())}),
        responses=inline_serializer(
            "Rendered",
            {
                "layout": serializers.CharField(),
                "messages": inline_serializer(
                    "Message", {"role": serializers.CharField(), "content": serializers.CharField()}, many=True
                ),
                "completion_text": serializers.CharField(),
                "choices": serializers.ListField(child=serializers.CharField()),
            },
        ),
    )
    @action(detail=True, methods=["post"], url_path="render")
    def render_version(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The messages (and completion text) this version would send for the given variables."""
        version = self.get_object()
        variables = request.data.get("variables", {}) if isinstance(request.data, dict) else None
        if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
            raise serializers.ValidationError({"variables": ["must be an object mapping names to text"]})
        rendered = render(PromptContent.from_dict(version.content()), variables)
        return Response(
            {
                "layout": rendered.layout,
                "messages": [{"role": m.role, "content": m.content} for m in rendered.messages],
                "completion_text": rendered.completion_text,
                "choices": list(rendered.choices),
            }
        )


class LabelOut(serializers.ModelSerializer[PromptLabel]):
    version = serializers.IntegerField(source="version.number", read_only=True)
    updated_by = serializers.SerializerMethodField()

    class Meta:
        model = PromptLabel
        fields = ("name", "version", "updated_by", "updated_at")
        read_only_fields = fields

    def get_updated_by(self, label: PromptLabel) -> str | None:
        if label.updated_by_api_key_id is not None and label.updated_by_api_key is not None:
            return f"API key {label.updated_by_api_key.prefix}"
        return _username(label.updated_by)


class LabelMoveIn(serializers.Serializer[Any]):
    version = serializers.IntegerField(min_value=1, help_text="The version number the label should point at.")
    expected_version = serializers.IntegerField(
        required=False,
        min_value=0,
        help_text="Move only if the label is on this version now (0: only if it does not exist yet); else 409.",
    )


class LabelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """A prompt's labels. PUT moves one (creating it if needed); DELETE removes it. Every move is recorded."""

    scoped_model = PromptLabel
    serializer_class = LabelOut
    lookup_field = "name"
    lookup_url_kwarg = "label"
    ordering_fields = ("name", "updated_at")
    ordering = ("name",)

    def narrow(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        return rows.filter(prompt=_parent_prompt(self)).select_related("version", "updated_by", "updated_by_api_key")

    @extend_schema(request=LabelMoveIn, responses=LabelOut)
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = validated_body(LabelMoveIn, request)
        prompt = _parent_prompt(self)
        version = prompt.versions.filter(number=data["version"]).first()
        if version is None:
            raise serializers.ValidationError({"version": [f"prompt {prompt.slug!r} has no version {data['version']}"]})
        label = label_move(
            prompt=prompt,
            name=self.kwargs["label"],
            version=version,
            actor=self.actor,
            expected_number=data.get("expected_version"),
        )
        return Response(LabelOut(self.get_queryset().get(pk=label.pk)).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        label_delete(label=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- datasets -----------------------------------------------------------------------------------------


class DatasetOut(serializers.ModelSerializer[Dataset]):
    latest_version = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Dataset
        fields = ("slug", "name", "description", "archived", "latest_version", "created_at", "updated_at")
        read_only_fields = fields


class DatasetVersionOut(serializers.ModelSerializer[DatasetVersion]):
    dataset = serializers.CharField(source="dataset.slug", read_only=True)
    created_by = serializers.SerializerMethodField()

    class Meta:
        model = DatasetVersion
        fields = (
            "dataset",
            "number",
            "row_count",
            "input_fields",
            "split_counts",
            "split_seed",
            "source_name",
            "content_hash",
            "created_by",
            "created_at",
        )
        read_only_fields = fields

    def get_created_by(self, version: DatasetVersion) -> str | None:
        if version.created_by_api_key_id is not None and version.created_by_api_key is not None:
            return f"API key {version.created_by_api_key.prefix}"
        return _username(version.created_by)


class DatasetUploadIn(serializers.Serializer[Any]):
    """The import command's options, as multipart form fields beside the file."""

    file = serializers.FileField()
    name = serializers.CharField(max_length=200, required=False, help_text="Dataset name (when creating one).")
    input_fields = serializers.CharField(required=False, default="", help_text="Comma-separated input columns.")
    target_field = serializers.CharField(required=False, default="target", max_length=200)
    split_field = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    answers_field = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    split_map = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    drop_duplicates = serializers.BooleanField(required=False, default=False)
    delimiter = serializers.CharField(required=False, default=",", max_length=4, trim_whitespace=False)
    seed = serializers.IntegerField(required=False, default=0, min_value=0, max_value=MAX_SEED)
    split_ratios = serializers.ListField(
        child=serializers.FloatField(), required=False, min_length=3, max_length=3, help_text="train, validation, test"
    )


class DatasetImportOut(serializers.Serializer[Any]):
    created = serializers.BooleanField(help_text="False when identical content already existed as this version.")
    dropped_duplicates = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
    version = DatasetVersionOut()


def _check_upload_size(request: Request) -> None:
    # Refused from the declared length before the body is read: an oversized upload costs nothing.
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if (length := parse_id(declared)) is not None and length > settings.DATASET_MAX_BYTES + 64 * 1024:
        raise PayloadTooLarge(f"the upload is {int(declared):,} bytes; the limit is {settings.DATASET_MAX_BYTES:,}")


def _import_upload(view: TeamScopedViewSet, request: Request, *, dataset: Dataset | None = None) -> Response:
    """The upload as a new version of `dataset`, or (without one) of the dataset the form's name names."""
    serializer = DatasetUploadIn(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    name = dataset.name if dataset is not None else data.get("name")
    if not name:
        raise serializers.ValidationError({"name": ["name the dataset to create"]})
    upload = data["file"]
    if upload.size > settings.DATASET_MAX_BYTES:
        raise PayloadTooLarge(f"the file is {upload.size:,} bytes; the limit is {settings.DATASET_MAX_BYTES:,}")
    try:
        split_map = parse_split_map(data["split_map"]) if data["split_map"].strip() else {}
    except DatasetFileError as error:
        raise serializers.ValidationError({"split_map": [str(problem) for problem in error.problems]}) from None
    options = ImportOptions(
        input_fields=tuple(part.strip() for part in data["input_fields"].split(",") if part.strip()),
        target_field=data["target_field"].strip(),
        split_field=data["split_field"].strip() or None,
        answers_field=data["answers_field"].strip() or None,
        split_map=split_map,
        delimiter=data["delimiter"],
        drop_duplicates=data["drop_duplicates"],
        max_bytes=settings.DATASET_MAX_BYTES,
        max_rows=settings.DATASET_MAX_ROWS,
    )
    ratios = data.get("split_ratios")
    split_settings = SplitSettings(
        seed=data["seed"], **({"ratios": dict(zip(ALL_SPLITS, ratios, strict=True))} if ratios else {})
    )
    try:
        result = dataset_version_import(
            team=view.team,
            dataset_name=name,
            file_name=upload.name or "upload",
            content=upload.read(),
            options=options,
            split_settings=split_settings,
            actor=view.actor,
            dataset=dataset,
        )
    except DatasetFileError as error:
        raise serializers.ValidationError({"file": [str(problem) for problem in error.problems]}) from None
    version = DatasetVersion.objects.select_related("dataset", "created_by", "created_by_api_key").get(
        pk=result.version.pk
    )
    body = {
        "created": result.created,
        "dropped_duplicates": [list(pair) for pair in result.dropped_duplicates],
        "version": DatasetVersionOut(version).data,
    }
    return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class DatasetViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """A team's datasets. POST uploads a CSV or JSONL file as a new dataset (or a new version of one)."""

    scoped_model = Dataset
    serializer_class = DatasetOut
    lookup_field = "slug"
    lookup_url_kwarg = "dataset"
    search_fields = ("name", "slug", "description")
    ordering_fields = ("name", "slug", "created_at", "updated_at")
    ordering = ("name", "id")
    # Uploads are multipart; updates are JSON.
    parser_classes = (MultiPartParser, StrictJSONParser)

    def narrow(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        annotated: QuerySet[Any] = rows.annotate(latest_version=Max("versions__number"))
        return annotated

    @extend_schema(
        request={"multipart/form-data": DatasetUploadIn}, responses={201: DatasetImportOut, 200: DatasetImportOut}
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        _check_upload_size(request)
        return _import_upload(self, request)

    @extend_schema(request=PromptUpdateIn, responses=DatasetOut)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = validated_body(PromptUpdateIn, request)
        dataset = dataset_update(dataset=self.get_object(), actor=self.actor, **data)
        return Response(DatasetOut(self.get_queryset().get(pk=dataset.pk)).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        dataset_delete(dataset=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DatasetVersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """A dataset's versions; POST uploads a file as its next version."""

    scoped_model = DatasetVersion
    serializer_class = DatasetVersionOut
    lookup_field = "number"
    lookup_value_regex = r"\d+"
    ordering_fields = ("number", "created_at")
    ordering = ("-number",)
    parser_classes = (MultiPartParser,)

    def narrow(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        return rows.filter(dataset=_parent_dataset(self)).select_related("dataset", "created_by", "created_by_api_key")

    @extend_schema(
        request={"multipart/form-data": DatasetUploadIn}, responses={201: DatasetImportOut, 200: DatasetImportOut}
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        _check_upload_size(request)
        return _import_upload(self, request, dataset=_parent_dataset(self))


class ExampleOut(serializers.ModelSerializer[Example]):
    class Meta:
        model = Example
        fields = ("position", "split", "inputs", "expected_output", "accepted_answers")
        read_only_fields = fields


class ExampleViewSet(mixins.ListModelMixin, TeamScopedViewSet):
    """A dataset version's examples in file order; `?split=train` filters, `?search=` looks in the target."""

    scoped_model = Example
    serializer_class = ExampleOut
    search_fields = ("expected_output",)
    ordering_fields = ("position",)
    ordering = ("position",)

    @extend_schema(parameters=[OpenApiParameter("split", OpenApiTypes.STR, enum=[s.value for s in Split])])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def narrow(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        dataset = _parent_dataset(self)
        number = parse_id(self.kwargs["number"])
        version = dataset.versions.filter(number=number).first() if number is not None else None
        if version is None:
            raise NotFoundError(f"dataset {dataset.slug!r} has no version {self.kwargs['number']}")
        rows = rows.filter(version=version)
        split = self.choice_param("split", [s.value for s in Split])
        if split is not None:
            rows = rows.filter(split=split)
        return rows
