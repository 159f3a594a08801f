"""Web UI pages for optimization runs: the list, the new-run form with its estimate, the live run page (an
htmx partial polled while the run works), and the promote / cancel / retry actions."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.admin_scoping import service_error_message
from promptopt.errors import PromptOptError
from promptopt.input_limits import parse_id
from promptopt.ui import TeamRequest, add_service_error, page, paginate, require_write, team_page
from prompts.diff import changed_fields, side_by_side
from prompts.models import PromptVersion
from prompts.services import label_move
from workflows.forms import RunStartForm
from workflows.models import FINISHED_STATUSES, Candidate, EvaluationRun, JobStatus, OptimizationRun
from workflows.run_outputs import RunReport
from workflows.run_page import (
    EXAMPLE_FILTERS,
    calls_chart,
    confusion_matrix,
    elapsed_seconds,
    iteration_scores,
    latest_step_examples,
    paired_examples,
    run_candidates,
    run_steps,
    score_chart,
)
from workflows.selectors import run_list_visible_to
from workflows.services import run_cancel, run_create, run_plan

PRODUCTION = "production"
# Runs that may be started again with the same settings (a succeeded run is not: it would repeat itself).
RETRYABLE = (JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.PARTIAL, JobStatus.BUDGET_EXHAUSTED)


def _run(request: TeamRequest, run_id: int) -> OptimizationRun:
    run = (
        run_list_visible_to(actor=request.actor)
        .filter(team=request.team, pk=run_id)
        .select_related("created_by", "created_by_api_key")
        .defer("checkpoint")
        .first()
    )
    if run is None:
        raise Http404(f"team {request.team.slug!r} has no run {run_id}")
    return run


@team_page
def run_list(request: TeamRequest) -> HttpResponse:
    rows = run_list_visible_to(actor=request.actor).filter(team=request.team).defer("checkpoint", "report")
    return job_list_page(request, rows, template="ui/runs/list.html", name="runs")


def job_list_page(request: TeamRequest, rows: QuerySet[Any], *, template: str, name: str) -> HttpResponse:
    """Runs or evaluations, newest first, one page of them, filtered by ?status= when it names one."""
    status = request.GET.get("status", "")
    if status in JobStatus.values:
        rows = rows.filter(status=status)
    rows = rows.order_by("-created_at", "-pk")
    return page(request, template, {name: paginate(request, rows), "status": status, "statuses": JobStatus.choices})


@team_page
def run_new(request: TeamRequest) -> HttpResponse:
    """Fill in, see the estimate (every check done, nothing written), then confirm to queue the run."""
    require_write(request)
    initial: dict[str, Any] = {}
    if (version_id := parse_id(request.GET.get("version", ""))) is not None:
        initial["version"] = version_id
    form = RunStartForm(request.POST or None, actor=request.actor, team=request.team, initial=initial)
    estimate = None
    if request.method == "POST" and form.is_valid():
        version: PromptVersion = form.cleaned_data["version"]
        target = {"team": request.team, "version": version, "dataset_version": form.cleaned_data["dataset_version"]}
        try:
            config = form.run_config()
            if request.POST.get("confirm") == "start":
                run = run_create(**target, config=config, actor=request.actor)
            else:
                estimate = run_plan(**target, config=config, actor=request.actor).estimate
        except (ValidationError, PromptOptError) as error:
            add_service_error(form, error)
        else:
            if estimate is None:
                messages.success(request, f"Run {run.pk} is queued; this page follows it live.")
                return HttpResponseRedirect(reverse("ui:run", args=[request.team.slug, run.pk]))
    return page(request, "ui/runs/new.html", {"form": form, "estimate": estimate})


def _run_context(request: TeamRequest, run: OptimizationRun) -> dict[str, Any]:
    """Everything the live part of the run page shows; rebuilt on every poll."""
    iteration, steps = run_steps(run)
    rows = iteration_scores(run)
    context: dict[str, Any] = {
        "run": run,
        "iteration": iteration,
        "steps": steps,
        "iteration_rows": rows,
        "score_chart": score_chart(rows),
        "calls_chart": calls_chart(run, rows),
        "budget": run.config.get("budget", {}),
        "elapsed": elapsed_seconds(run),
        "candidates": run_candidates(run),
    }
    if run.is_finished and run.report:
        context["report"] = RunReport.model_validate(run.report)
    return context


def _test_evaluations(run: OptimizationRun) -> tuple[EvaluationRun | None, EvaluationRun | None]:
    evaluations = {
        evaluation.version_id: evaluation
        for evaluation in EvaluationRun.objects.filter(optimization_run=run).select_related("version")
    }
    baseline = evaluations.get(run.baseline_version_id)
    winner = evaluations.get(run.best_version_id) if run.best_version_id and has_winner(run) else None
    return baseline, winner


def has_winner(run: OptimizationRun) -> bool:
    """A finished run whose best version is not its baseline (a run that found nothing keeps the baseline)."""
    return (
        run.status in FINISHED_STATUSES
        and run.best_version_id is not None
        and run.best_version_id != run.baseline_version_id
    )


@team_page
def run_detail(request: TeamRequest, run_id: int) -> HttpResponse:
    run = _run(request, run_id)
    baseline_test, winner_test = _test_evaluations(run)
    context = _run_context(request, run) | {
        "baseline_test": baseline_test,
        "winner_test": winner_test,
        "production": run.prompt.labels.filter(name=PRODUCTION).select_related("version").first(),
        "retryable": run.status in RETRYABLE,
        "promotable": has_winner(run),
        "confusions": [
            matrix
            for matrix in (
                confusion_matrix("Baseline", baseline_test, run.baseline_version) if baseline_test else None,
                confusion_matrix("Winner", winner_test, winner_test.version) if winner_test else None,
            )
            if matrix is not None
        ],
    }
    return page(request, "ui/runs/detail.html", context)


@team_page
def run_live(request: TeamRequest, run_id: int) -> HttpResponse:
    """The part of the run page that changes: polled every few seconds until the run has finished; the
    finished state asks the browser to reload the page once so the report, tables and actions appear."""
    run = _run(request, run_id)
    response = page(request, "ui/runs/_live.html", _run_context(request, run))
    if run.is_finished and request.GET.get("was") == "active":
        response["HX-Refresh"] = "true"
    return response


@team_page
def run_examples(request: TeamRequest, run_id: int) -> HttpResponse:
    """The per-example table: the final test (baseline beside winner) once there is one, else the latest
    minibatch the incumbent was scored on; filters for failures, regressions and improvements."""
    run = _run(request, run_id)
    show = request.GET.get("show", "all")
    show = show if show in EXAMPLE_FILTERS else "all"
    baseline_test, winner_test = _test_evaluations(run)
    step = None
    if winner_test is not None:
        rows = paired_examples(baseline_test, winner_test, show=show)
    elif baseline_test is not None:
        rows = paired_examples(None, baseline_test, show=show)
    else:
        step, rows = latest_step_examples(run, show=show)
    context = {
        "run": run,
        "show": show,
        "filters": EXAMPLE_FILTERS,
        "rows": paginate(request, rows),
        "paired": winner_test is not None,
        "tested": baseline_test is not None,
        "step": step,
    }
    template = "ui/runs/_examples.html" if request.headers.get("HX-Request") else "ui/runs/examples.html"
    return page(request, template, context)


@require_POST
@team_page
def run_cancel_view(request: TeamRequest, run_id: int) -> HttpResponse:
    run = _run(request, run_id)
    try:
        run_cancel(run=run, actor=request.actor)
    except PromptOptError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Cancel requested: the run stops after the call in progress and keeps its work.")
    return HttpResponseRedirect(reverse("ui:run", args=[request.team.slug, run.pk]))


@require_POST
@team_page
def run_retry_view(request: TeamRequest, run_id: int) -> HttpResponse:
    """A new run with the same baseline, data and settings; calls already made are answered by the cache."""
    run = _run(request, run_id)
    if run.status not in RETRYABLE:
        messages.error(
            request,
            f"Run {run.pk} is {run.get_status_display().lower()}; only a run that did not finish "
            "normally can be retried.",
        )
        return HttpResponseRedirect(reverse("ui:run", args=[request.team.slug, run.pk]))
    try:
        again = run_create(
            team=request.team,
            version=run.baseline_version,
            dataset_version=run.dataset_version,
            config=dict(run.config),
            actor=request.actor,
        )
    except (ValidationError, PromptOptError) as error:
        messages.error(request, f"Could not start it again: {service_error_message(error)}")
        return HttpResponseRedirect(reverse("ui:run", args=[request.team.slug, run.pk]))
    messages.success(request, f"Run {again.pk} retries run {run.pk} with the same settings.")
    return HttpResponseRedirect(reverse("ui:run", args=[request.team.slug, again.pk]))


@require_POST
@team_page
def run_promote_view(request: TeamRequest, run_id: int) -> HttpResponse:
    """Point the prompt's production label at the run's winner (only a winner that beat the baseline)."""
    run = _run(request, run_id)
    winner = run.best_version
    if winner is None or not has_winner(run):
        messages.error(request, "This run has no winner to promote: nothing beat the baseline beyond noise.")
        return HttpResponseRedirect(reverse("ui:run", args=[request.team.slug, run.pk]))
    expected = parse_id(request.POST.get("expected", ""))
    try:
        label_move(prompt=run.prompt, name=PRODUCTION, version=winner, expected_number=expected, actor=request.actor)
    except (ValidationError, PromptOptError) as error:
        messages.error(request, service_error_message(error))
    else:
        messages.success(request, f"{run.prompt.name} v{winner.number} is now production; resolve returns it.")
    return HttpResponseRedirect(reverse("ui:run", args=[request.team.slug, run.pk]))


@team_page
def run_candidate_diff(request: TeamRequest, run_id: int, candidate_id: int) -> HttpResponse:
    """What a candidate changed against the run's baseline, side by side, word by word."""
    run = _run(request, run_id)
    candidate = Candidate.objects.filter(iteration__run=run, pk=candidate_id).select_related("iteration").first()
    if candidate is None:
        raise Http404(f"run {run.pk} has no candidate {candidate_id}")
    before = run.baseline_version.content()
    context = {
        "run": run,
        "candidate": candidate,
        "rows": side_by_side(before, candidate.content),
        "changes": changed_fields(before, candidate.content),
        "before_name": f"Baseline v{run.baseline_version.number}",
        "after_name": f"Candidate {candidate.pk}",
    }
    return page(request, "ui/runs/candidate_diff.html", context)
