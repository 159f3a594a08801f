"""Admin pages for runs and what they record; runs start elsewhere, here they are inspected and cancelled."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import URLPattern, path

from accounts.admin_scoping import (
    SERVICE_ERRORS,
    ReadOnlyAdminMixin,
    ReadOnlyInline,
    TeamListFilter,
    TeamScopedAdminMixin,
    acting_actor,
    service_error_message,
)
from promptopt.errors import ConflictError
from workflows.admin_start import start_evaluation_view, start_run_view
from workflows.models import (
    Candidate,
    EvaluationRun,
    Iteration,
    IterationStep,
    JobStatus,
    LLMCallCache,
    OptimizationRun,
    PlaygroundCall,
    Prediction,
)
from workflows.services import evaluation_cancel, run_cancel

Job = TypeVar("Job", OptimizationRun, EvaluationRun)

# Lifecycle and usage columns shared by both kinds of run, shown on their (read-only) pages.
JOB_FIELDS = (
    "status",
    "progress",
    "progress_message",
    "attempts",
    "lease_expires_at",
    "cancel_requested_at",
    "created_by",
    "created_at",
    "started_at",
    "finished_at",
    "calls",
    "cached_calls",
    "retries",
    "failed_calls",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "error_message",
)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _cancel_each(
    model_admin: admin.ModelAdmin[Any], request: HttpRequest, jobs: Iterable[Job], cancel: Callable[[Job], Job]
) -> None:
    """Cancel job by job: one finished run must not stop the others from being cancelled."""
    cancelled = stopping = 0
    for job in jobs:
        try:
            result = cancel(job)
        except ConflictError as error:
            model_admin.message_user(request, str(error), messages.WARNING)
        except SERVICE_ERRORS as error:
            model_admin.message_user(request, f"{job}: {service_error_message(error)}", messages.ERROR)
        else:
            if result.status == JobStatus.CANCELLED:
                cancelled += 1
            else:
                stopping += 1
    if cancelled:
        model_admin.message_user(request, f"Cancelled {_plural(cancelled, 'queued run')}.", messages.SUCCESS)
    if stopping:
        model_admin.message_user(
            request, f"Asked {_plural(stopping, 'running run')} to stop at the next checkpoint.", messages.SUCCESS
        )


@admin.display(description="progress", ordering="progress")
def progress_percent(job: OptimizationRun | EvaluationRun) -> str:
    return f"{job.progress:.0%}"


# --- Optimization runs and what each iteration recorded ---------------------------------------------


class IterationInline(ReadOnlyInline):
    model = Iteration
    fields = ("index", "status", "started_at", "finished_at")


@admin.register(OptimizationRun)
class OptimizationRunAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin[OptimizationRun]):
    """Runs are created by `run_create` from the web UI, API or commands; the admin inspects and cancels."""

    fields = (
        "team",
        "prompt",
        "baseline_version",
        "dataset_version",
        "config",
        "best_version",
        "baseline_score",
        "best_score",
        "baseline_test_score",
        "best_test_score",
        "stop_reason",
        "estimate",
        "report",
        *JOB_FIELDS,
    )
    readonly_fields = fields
    list_display = (
        "id",
        "prompt",
        "status",
        progress_percent,
        "baseline_score",
        "best_score",
        "calls",
        "cost_usd",
        "created_by",
        "created_at",
    )
    list_display_links = ("id", "prompt")
    list_filter = ("status", TeamListFilter)
    list_select_related = ("prompt", "created_by")
    search_fields = ("prompt__name", "prompt__slug", "progress_message", "error_message")
    date_hierarchy = "created_at"
    inlines = (IterationInline,)
    actions = ("cancel_runs",)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(lambda request: start_run_view(self, request))
        return [path("start/", view, name="workflows_optimizationrun_start"), *super().get_urls()]

    @admin.action(description="Cancel selected runs", permissions=["team_write"])
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet[OptimizationRun]) -> None:
        actor = acting_actor(request)
        _cancel_each(self, request, queryset, lambda run: run_cancel(run=run, actor=actor))


class IterationStepInline(ReadOnlyInline):
    model = IterationStep
    fields = ("kind", "status", "started_at", "finished_at", "summary")


class CandidateInline(ReadOnlyInline):
    model = Candidate
    fields = ("strategy", "minibatch_score", "validation_score", "accepted", "version", "created_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Candidate]:
        return super().get_queryset(request).select_related("version__prompt")


@admin.register(Iteration)
class IterationAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin[Iteration]):
    fields = ("run", "index", "status", "started_at", "finished_at")
    readonly_fields = fields
    list_display = ("__str__", "run", "index", "status", "started_at", "finished_at")
    list_filter = ("status", TeamListFilter)
    list_select_related = ("run__prompt",)
    search_fields = ("run__prompt__name", "run__prompt__slug")
    inlines = (IterationStepInline, CandidateInline)


@admin.register(IterationStep)
class IterationStepAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin[IterationStep]):
    fields = ("iteration", "kind", "status", "started_at", "finished_at", "summary")
    readonly_fields = fields
    list_display = ("__str__", "kind", "status", "started_at", "finished_at")
    list_filter = ("kind", "status", TeamListFilter)
    list_select_related = ("iteration",)
    search_fields = ("iteration__run__prompt__name",)


@admin.register(Candidate)
class CandidateAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin[Candidate]):
    fields = (
        "iteration",
        "key",
        "strategy",
        "params",
        "content",
        "rationale",
        "minibatch_score",
        "validation_score",
        "accepted",
        "version",
        "created_at",
    )
    readonly_fields = fields
    list_display = ("__str__", "iteration", "strategy", "minibatch_score", "validation_score", "accepted", "version")
    list_filter = ("accepted", "strategy", TeamListFilter)
    list_select_related = ("iteration", "version__prompt")
    search_fields = ("strategy", "rationale")
    date_hierarchy = "created_at"


# --- Evaluation runs, predictions and the call cache ------------------------------------------------


@admin.register(EvaluationRun)
class EvaluationRunAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin[EvaluationRun]):
    """Evaluations are created by `evaluation_create` elsewhere; the admin inspects and cancels."""

    fields = (
        "team",
        "version",
        "dataset_version",
        "split",
        "config",
        "example_count",
        "scored_count",
        "score",
        "score_ci_low",
        "score_ci_high",
        "optimization_run",
        *JOB_FIELDS,
    )
    readonly_fields = fields
    list_display = (
        "id",
        "version",
        "dataset_version",
        "split",
        "status",
        progress_percent,
        "score",
        "example_count",
        "cost_usd",
        "created_at",
    )
    list_display_links = ("id", "version")
    list_filter = ("status", "split", TeamListFilter)
    list_select_related = ("version__prompt", "dataset_version__dataset")
    search_fields = ("version__prompt__name", "version__prompt__slug", "dataset_version__dataset__name")
    date_hierarchy = "created_at"
    actions = ("cancel_evaluations",)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(lambda request: start_evaluation_view(self, request))
        return [path("start/", view, name="workflows_evaluationrun_start"), *super().get_urls()]

    @admin.action(description="Cancel selected runs", permissions=["team_write"])
    def cancel_evaluations(self, request: HttpRequest, queryset: QuerySet[EvaluationRun]) -> None:
        actor = acting_actor(request)
        _cancel_each(self, request, queryset, lambda evaluation: evaluation_cancel(evaluation=evaluation, actor=actor))


@admin.register(Prediction)
class PredictionAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin[Prediction]):
    """Predictions belong to an iteration step or to an evaluation run, so their team is reached either way."""

    fields = (
        "step",
        "evaluation",
        "version",
        "candidate",
        "example",
        "output",
        "score",
        "feedback",
        "error",
        "latency_ms",
        "input_tokens",
        "output_tokens",
        "cached",
        "created_at",
    )
    readonly_fields = fields
    list_display = ("id", "owner", "subject", "example", "score", "cached", "latency_ms", "created_at")
    list_filter = ("cached", TeamListFilter)
    list_select_related = (
        "step__iteration",
        "evaluation__version__prompt",
        "version__prompt",
        "candidate",
        "example__version__dataset",
    )
    date_hierarchy = "created_at"
    # The largest table in the system: skip the unfiltered count on every page.
    show_full_result_count = False

    @admin.display(description="owner")
    def owner(self, prediction: Prediction) -> str:
        return str(prediction.step or prediction.evaluation)

    @admin.display(description="scored prompt")
    def subject(self, prediction: Prediction) -> str:
        return str(prediction.version or prediction.candidate)


@admin.register(LLMCallCache)
class LLMCallCacheAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin[LLMCallCache]):
    fields = ("team", "key", "provider", "model_name", "response", "input_tokens", "output_tokens", "created_at")
    readonly_fields = fields
    list_display = ("__str__", "team", "provider", "model_name", "input_tokens", "output_tokens", "created_at")
    list_filter = ("provider", TeamListFilter)
    list_select_related = ("team",)
    search_fields = ("key", "model_name")
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(PlaygroundCall)
class PlaygroundCallAdmin(ReadOnlyAdminMixin, TeamScopedAdminMixin, admin.ModelAdmin[PlaygroundCall]):
    fields = (
        "team",
        "version",
        "created_by",
        "provider",
        "model_name",
        "cached",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "error_message",
        "created_at",
    )
    readonly_fields = fields
    list_display = ("__str__", "team", "version", "created_by", "cached", "cost_usd", "created_at")
    list_filter = ("provider", "cached", TeamListFilter)
    list_select_related = ("team", "version__prompt", "created_by")
    date_hierarchy = "created_at"
    show_full_result_count = False
