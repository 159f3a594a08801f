"""API for optimization runs and evaluations (created for the background workers), and comparisons."""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import team_get
from promptopt.api.actors import request_actor
from promptopt.api.viewsets import TeamScopedViewSet, validated_body
from promptopt.errors import ConflictError, NotFoundError
from promptopt.input_limits import parse_id
from prompts.models import DatasetVersion, PromptVersion
from prompts.selectors import dataset_get, dataset_version_latest, version_resolve
from prompts.splits import SPLIT_CHOICES, Split
from workflows.comparisons import Comparison, evaluations_compare, latest_comparable_pair
from workflows.engine.config import RunConfig
from workflows.idempotency import idempotent
from workflows.models import (
    Candidate,
    EvaluationRun,
    Iteration,
    IterationStep,
    JobStatus,
    OptimizationRun,
    Prediction,
)
from workflows.run_outputs import RunBudget, RunEstimateOut, RunProgress, RunReport, RunUsage
from workflows.services import evaluation_cancel, evaluation_create, run_cancel, run_create

# Heavy columns that list and polling reads never load: a checkpoint can be megabytes.
HEAVY_RUN_COLUMNS = ("checkpoint", "report")


def _who(job: Any) -> str | None:
    if job.created_by_api_key_id is not None and job.created_by_api_key is not None:
        return f"API key {job.created_by_api_key.prefix}"
    return job.created_by.get_username() if job.created_by is not None else None


# --- runs -------------------------------------------------------------------------------------------------


def run_progress(run: OptimizationRun) -> RunProgress:
    """Built from the run's columns and the annotations RunViewSet adds; never from the checkpoint."""
    budget = RunConfig.model_validate(run.config).budget if run.config else None
    started, finished = run.started_at, run.finished_at
    elapsed = ((finished or timezone.now()) - started).total_seconds() if started else None
    return RunProgress(
        status=run.status,
        finished=run.is_finished,
        progress=run.progress,
        message=run.progress_message,
        iteration=getattr(run, "current_iteration", None),
        step=getattr(run, "current_step", None),
        step_status=getattr(run, "current_step_status", None),
        usage=RunUsage(
            calls=run.calls,
            cached_calls=run.cached_calls,
            input_tokens=run.input_tokens,
            output_tokens=run.output_tokens,
            cost_usd=float(run.cost_usd),
            retries=run.retries,
            failed_calls=run.failed_calls,
        ),
        budget=RunBudget(
            max_calls=budget.max_calls if budget else None,
            max_tokens=budget.max_tokens if budget else None,
            max_cost_usd=budget.max_cost_usd if budget else None,
            max_seconds=budget.max_seconds if budget else None,
        ),
        elapsed_seconds=elapsed,
        baseline_score=run.baseline_score,
        best_score=run.best_score,
        cancel_requested=run.cancel_requested_at is not None,
        error=run.error_message,
        started_at=started,
        finished_at=finished,
    )


class RunOut(serializers.ModelSerializer[OptimizationRun]):
    prompt = serializers.CharField(source="prompt.slug", read_only=True)
    baseline_version = serializers.IntegerField(source="baseline_version.number", read_only=True)
    best_version = serializers.IntegerField(source="best_version.number", read_only=True, default=None, allow_null=True)
    dataset = serializers.CharField(source="dataset_version.dataset.slug", read_only=True)
    dataset_version = serializers.IntegerField(source="dataset_version.number", read_only=True)
    created_by = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    estimate = serializers.SerializerMethodField()

    class Meta:
        model = OptimizationRun
        fields = (
            "id",
            "status",
            "prompt",
            "baseline_version",
            "best_version",
            "dataset",
            "dataset_version",
            "config",
            "estimate",
            "progress",
            "stop_reason",
            "baseline_score",
            "best_score",
            "baseline_test_score",
            "best_test_score",
            "created_by",
            "created_at",
        )
        read_only_fields = fields

    def get_created_by(self, run: OptimizationRun) -> str | None:
        return _who(run)

    @extend_schema_field(RunProgress)  # type: ignore[arg-type]  # a pydantic model, documented by its extension
    def get_progress(self, run: OptimizationRun) -> dict[str, Any]:
        return run_progress(run).model_dump(mode="json")

    @extend_schema_field(RunEstimateOut)  # type: ignore[arg-type]
    def get_estimate(self, run: OptimizationRun) -> dict[str, Any] | None:
        return RunEstimateOut.model_validate(run.estimate).model_dump(mode="json") if run.estimate else None


class RunCreateIn(serializers.Serializer[Any]):
    prompt = serializers.CharField(max_length=200, help_text="Prompt slug; with @N a version, with :LABEL a label.")
    dataset = serializers.SlugField(max_length=100)
    dataset_version = serializers.IntegerField(required=False, min_value=1, help_text="Default: the latest.")
    config = serializers.JSONField(
        required=False, default=dict, help_text="A run config (metric, strategies, iterations, budget, seed…)."
    )


def _dataset_version(view: TeamScopedViewSet, slug: str, number: int | None) -> DatasetVersion:
    dataset = dataset_get(actor=view.actor, team=view.team, slug=slug)
    found = dataset.versions.filter(number=number).first() if number else dataset_version_latest(dataset=dataset)
    if found is None:
        raise serializers.ValidationError({"dataset_version": [f"dataset {slug!r} has no such version"]})
    return found


def _config_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise serializers.ValidationError({"config": ["must be a JSON object"]})
    return value


class StepOut(serializers.ModelSerializer[IterationStep]):
    class Meta:
        model = IterationStep
        fields = ("kind", "status", "started_at", "finished_at", "summary")
        read_only_fields = fields


class IterationOut(serializers.ModelSerializer[Iteration]):
    steps = StepOut(many=True, read_only=True)

    class Meta:
        model = Iteration
        fields = ("index", "status", "started_at", "finished_at", "steps")
        read_only_fields = fields


class CandidateOut(serializers.ModelSerializer[Candidate]):
    iteration = serializers.IntegerField(source="iteration.index", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True, default=None, allow_null=True)

    class Meta:
        model = Candidate
        fields = (
            "id",
            "iteration",
            "key",
            "strategy",
            "rationale",
            "minibatch_score",
            "validation_score",
            "accepted",
            "version",
            "content",
            "params",
        )
        read_only_fields = fields


class PredictionOut(serializers.ModelSerializer[Prediction]):
    example = serializers.IntegerField(source="example.position", read_only=True)
    split = serializers.CharField(source="example.split", read_only=True)
    inputs = serializers.JSONField(source="example.inputs", read_only=True)
    expected_output = serializers.CharField(source="example.expected_output", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True, default=None, allow_null=True)
    candidate = serializers.IntegerField(source="candidate_id", read_only=True, default=None, allow_null=True)

    class Meta:
        model = Prediction
        fields = (
            "id",
            "example",
            "split",
            "inputs",
            "expected_output",
            "version",
            "candidate",
            "output",
            "score",
            "feedback",
            "error",
            "latency_ms",
            "input_tokens",
            "output_tokens",
            "cached",
        )
        read_only_fields = fields


def _predictions_filtered(rows: QuerySet[Prediction], request: Request) -> QuerySet[Prediction]:
    if request.query_params.get("failures") == "true":
        # Failures: a score below 1, or no score at all (the call failed).
        rows = rows.exclude(score=1.0)
    return rows.select_related("example", "version").order_by("id")


JOB_FILTERS = [
    OpenApiParameter("status", str, enum=list(JobStatus.values)),
    OpenApiParameter("prompt", str, description="A prompt's slug."),
]
FAILURES_PARAMETER = OpenApiParameter("failures", bool, description="Only predictions that scored below 1.")


class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """Optimization runs. POST validates the config, estimates the cost and queues the run for the workers."""

    scoped_model = OptimizationRun
    serializer_class = RunOut
    ordering_fields = ("created_at", "status")
    ordering = ("-created_at", "-id")
    search_fields = ("prompt__slug", "prompt__name")
    rate_scopes = {"create": "runs"}

    def narrow(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        status_filter = self.choice_param("status", list(JobStatus.values))
        if status_filter is not None:
            rows = rows.filter(status=status_filter)
        prompt = self.request.query_params.get("prompt")
        if prompt:
            rows = rows.filter(prompt__slug=prompt)
        latest_step = IterationStep.objects.filter(iteration__run=OuterRef("pk")).order_by("-iteration__index", "-id")
        annotated: QuerySet[Any] = (
            rows.defer(*HEAVY_RUN_COLUMNS)
            .select_related(
                "prompt",
                "baseline_version",
                "best_version",
                "dataset_version__dataset",
                "created_by",
                "created_by_api_key",
            )
            .annotate(
                current_iteration=Subquery(latest_step.values("iteration__index")[:1]),
                current_step=Subquery(latest_step.values("kind")[:1]),
                current_step_status=Subquery(latest_step.values("status")[:1]),
            )
        )
        return annotated

    @extend_schema(parameters=JOB_FILTERS)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=RunCreateIn, responses={201: RunOut})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        def make() -> Response:
            data = validated_body(RunCreateIn, request)
            version = version_resolve(actor=self.actor, team=self.team, reference=data["prompt"])
            dataset_version = _dataset_version(self, data["dataset"], data.get("dataset_version"))
            run = run_create(
                team=self.team,
                version=version,
                dataset_version=dataset_version,
                config=_config_object(data["config"]),
                actor=self.actor,
            )
            return Response(RunOut(self.get_queryset().get(pk=run.pk)).data, status=status.HTTP_201_CREATED)

        return idempotent(request=request, actor=self.actor, team=self.team, create=make)

    @extend_schema(request=None, responses=RunOut)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Stop the run: a queued run at once, a running one at its next checkpoint. Completed steps are kept."""
        run = run_cancel(run=self.get_object(), actor=self.actor)
        return Response(RunOut(self.get_queryset().get(pk=run.pk)).data)

    @extend_schema(responses=RunProgress)
    @action(detail=True, methods=["get"])
    def progress(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Just the progress: what a client polls while the run works."""
        return Response(run_progress(self.get_object()).model_dump(mode="json"))

    @extend_schema(responses=IterationOut(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)
    def iterations(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Every iteration with its five steps, their states, durations and summaries."""
        run = self.get_object()
        rows = Iteration.objects.filter(run=run).prefetch_related("steps").order_by("index")
        return Response(IterationOut(rows, many=True).data)

    @extend_schema(
        responses=CandidateOut(many=True),
        parameters=[OpenApiParameter("accepted", bool), OpenApiParameter("iteration", int)],
    )
    @action(detail=True, methods=["get"])
    def candidates(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The prompts the optimizer proposed, with their scores and whether they were accepted."""
        run = self.get_object()
        rows = Candidate.objects.filter(iteration__run=run).select_related("iteration", "version").order_by("id")
        if request.query_params.get("accepted") in ("true", "false"):
            rows = rows.filter(accepted=request.query_params["accepted"] == "true")
        if (iteration := parse_id(request.query_params.get("iteration"))) is not None:
            rows = rows.filter(iteration__index=iteration)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(CandidateOut(page, many=True).data)

    @extend_schema(
        responses=PredictionOut(many=True), parameters=[FAILURES_PARAMETER, OpenApiParameter("iteration", int)]
    )
    @action(detail=True, methods=["get"])
    def predictions(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Every model output the run's steps produced, with its score and feedback."""
        run = self.get_object()
        rows = Prediction.objects.filter(step__iteration__run=run)
        if (iteration := parse_id(request.query_params.get("iteration"))) is not None:
            rows = rows.filter(step__iteration__index=iteration)
        page = self.paginate_queryset(_predictions_filtered(rows, request))
        return self.get_paginated_response(PredictionOut(page, many=True).data)

    @extend_schema(responses={200: RunReport})
    @action(detail=True, methods=["get"])
    def report(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The final report: validation and test scores with intervals, the paired difference, usage, diff."""
        run = self.get_object()
        report = OptimizationRun.objects.filter(pk=run.pk).values_list("report", flat=True).first()
        if not report:
            raise ConflictError(f"run {run.pk} is {run.status}; its report exists once it has finished")
        return Response(RunReport.model_validate(report).model_dump(mode="json"))


# --- evaluations --------------------------------------------------------------------------------------


class EvaluationOut(serializers.ModelSerializer[EvaluationRun]):
    prompt = serializers.CharField(source="version.prompt.slug", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    dataset = serializers.CharField(source="dataset_version.dataset.slug", read_only=True)
    dataset_version = serializers.IntegerField(source="dataset_version.number", read_only=True)
    created_by = serializers.SerializerMethodField()

    class Meta:
        model = EvaluationRun
        fields = (
            "id",
            "status",
            "prompt",
            "version",
            "dataset",
            "dataset_version",
            "split",
            "config",
            "optimization_run",
            "progress",
            "example_count",
            "scored_count",
            "score",
            "score_ci_low",
            "score_ci_high",
            "calls",
            "cached_calls",
            "retries",
            "failed_calls",
            "input_tokens",
            "output_tokens",
            "cost_usd",
            "error_message",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        )
        read_only_fields = fields

    def get_created_by(self, evaluation: EvaluationRun) -> str | None:
        return _who(evaluation)


class EvaluationCreateIn(serializers.Serializer[Any]):
    prompt = serializers.CharField(max_length=200, help_text="Prompt slug; with @N a version, with :LABEL a label.")
    dataset = serializers.SlugField(max_length=100)
    dataset_version = serializers.IntegerField(required=False, min_value=1)
    split = serializers.ChoiceField(choices=SPLIT_CHOICES, default=Split.TEST.value)
    config = serializers.JSONField(required=False, default=dict, help_text="Metric, provider, model, budget, fresh.")


class EvaluationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """Evaluations: one version scored on one split of one dataset version, on the background workers."""

    scoped_model = EvaluationRun
    serializer_class = EvaluationOut
    ordering_fields = ("created_at", "status", "score")
    ordering = ("-created_at", "-id")
    rate_scopes = {"create": "runs"}

    def narrow(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        status_filter = self.choice_param("status", list(JobStatus.values))
        if status_filter is not None:
            rows = rows.filter(status=status_filter)
        prompt = self.request.query_params.get("prompt")
        if prompt:
            rows = rows.filter(version__prompt__slug=prompt)
        return rows.select_related("version__prompt", "dataset_version__dataset", "created_by", "created_by_api_key")

    @extend_schema(parameters=JOB_FILTERS)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=EvaluationCreateIn, responses={201: EvaluationOut})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        def make() -> Response:
            data = validated_body(EvaluationCreateIn, request)
            version = version_resolve(actor=self.actor, team=self.team, reference=data["prompt"])
            evaluation = evaluation_create(
                team=self.team,
                version=version,
                dataset_version=_dataset_version(self, data["dataset"], data.get("dataset_version")),
                split=Split(data["split"]),
                config=_config_object(data["config"]),
                actor=self.actor,
            )
            body = EvaluationOut(self.get_queryset().get(pk=evaluation.pk)).data
            return Response(body, status=status.HTTP_201_CREATED)

        return idempotent(request=request, actor=self.actor, team=self.team, create=make)

    @extend_schema(request=None, responses=EvaluationOut)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        evaluation = evaluation_cancel(evaluation=self.get_object(), actor=self.actor)
        return Response(EvaluationOut(self.get_queryset().get(pk=evaluation.pk)).data)

    @extend_schema(responses=PredictionOut(many=True), parameters=[FAILURES_PARAMETER])
    @action(detail=True, methods=["get"])
    def predictions(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Every example's output, score and feedback; `?failures=true` for the ones that missed."""
        rows = Prediction.objects.filter(evaluation=self.get_object())
        page = self.paginate_queryset(_predictions_filtered(rows, request))
        return self.get_paginated_response(PredictionOut(page, many=True).data)


# --- compare ------------------------------------------------------------------------------------------


class CompareView(APIView):
    """Compare two evaluations (`?a=ID&b=ID`), or two versions of a prompt on a dataset version's split
    (`?prompt=SLUG&a=N&b=N&dataset=SLUG[&dataset_version=N][&split=test]`, from their latest evaluations)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("a", int, required=True, description="Evaluation id, or version number with prompt."),
            OpenApiParameter("b", int, required=True),
            OpenApiParameter("prompt", str),
            OpenApiParameter("dataset", str),
            OpenApiParameter("dataset_version", int),
            OpenApiParameter("split", str, enum=[s.value for s in Split]),
        ],
        responses=Comparison,
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        actor = request_actor(request)
        team = team_get(actor=actor, slug=kwargs["team"])
        params = request.query_params
        ids: dict[str, int] = {}
        for name in ("a", "b"):
            value = parse_id(params.get(name))
            if value is None:
                raise serializers.ValidationError({name: ["a whole number is required"]})
            ids[name] = value
        evaluations = EvaluationRun.objects.filter(team=team).select_related(
            "version__prompt", "dataset_version__dataset"
        )
        if params.get("prompt"):
            dataset_slug = params.get("dataset")
            if not dataset_slug:
                raise serializers.ValidationError({"dataset": ["needed to compare two versions"]})
            split = params.get("split", Split.TEST.value)
            if split not in {s.value for s in Split}:
                raise serializers.ValidationError({"split": [f"use one of {', '.join(s.value for s in Split)}"]})
            dataset = dataset_get(actor=actor, team=team, slug=dataset_slug)
            number = parse_id(params.get("dataset_version"))
            dataset_version = (
                dataset.versions.filter(number=number).first()
                if number is not None
                else dataset_version_latest(dataset=dataset)
            )
            if dataset_version is None:
                raise NotFoundError(f"dataset {dataset.slug!r} has no such version")
            versions = []
            for name in ("a", "b"):
                version = PromptVersion.objects.filter(
                    prompt__team=team, prompt__slug=params["prompt"], number=ids[name]
                ).first()
                if version is None:
                    raise NotFoundError(f"prompt {params['prompt']!r} has no version {ids[name]}")
                versions.append(version)
            a, b = latest_comparable_pair(
                actor=actor, versions=(versions[0], versions[1]), dataset_version=dataset_version, split=split
            )
        else:
            found = {evaluation.pk: evaluation for evaluation in evaluations.filter(pk__in=list(ids.values()))}
            missing = [value for value in ids.values() if value not in found]
            if missing:
                raise NotFoundError(f"team {team.slug!r} has no evaluation {missing[0]}")
            a, b = found[ids["a"]], found[ids["b"]]
        return Response(evaluations_compare(actor=actor, a=a, b=b).model_dump(mode="json"))
