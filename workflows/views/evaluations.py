"""Web UI pages for evaluations: the list, the new-evaluation form, and the live evaluation page."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from promptopt.errors import PromptOptError
from promptopt.input_limits import parse_id
from promptopt.ui import TeamRequest, add_service_error, page, paginate, require_write, team_page
from prompts.splits import Split
from workflows.forms import EvaluationStartForm
from workflows.models import EvaluationRun
from workflows.run_page import EXAMPLE_FILTERS, confusion_matrix, elapsed_seconds, evaluation_examples, example_row
from workflows.selectors import evaluation_list_visible_to
from workflows.services import evaluation_cancel, evaluation_create
from workflows.views.runs import job_list_page


def _evaluation(request: TeamRequest, evaluation_id: int) -> EvaluationRun:
    evaluation = (
        evaluation_list_visible_to(actor=request.actor)
        .filter(team=request.team, pk=evaluation_id)
        .select_related("created_by", "created_by_api_key", "optimization_run")
        .first()
    )
    if evaluation is None:
        raise Http404(f"team {request.team.slug!r} has no evaluation {evaluation_id}")
    return evaluation


@team_page
def evaluation_list(request: TeamRequest) -> HttpResponse:
    rows = evaluation_list_visible_to(actor=request.actor).filter(team=request.team)
    return job_list_page(request, rows, template="ui/evaluations/list.html", name="evaluations")


@team_page
def evaluation_new(request: TeamRequest) -> HttpResponse:
    require_write(request)
    initial: dict[str, Any] = {}
    if (version_id := parse_id(request.GET.get("version", ""))) is not None:
        initial["version"] = version_id
    form = EvaluationStartForm(request.POST or None, actor=request.actor, team=request.team, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            evaluation = evaluation_create(
                team=request.team,
                version=form.cleaned_data["version"],
                dataset_version=form.cleaned_data["dataset_version"],
                split=Split(form.cleaned_data["split"]),
                config=form.evaluation_config(),
                actor=request.actor,
            )
        except (ValidationError, PromptOptError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Evaluation {evaluation.pk} is queued; this page follows it live.")
            return HttpResponseRedirect(reverse("ui:evaluation", args=[request.team.slug, evaluation.pk]))
    return page(request, "ui/evaluations/new.html", {"form": form})


def _context(request: TeamRequest, evaluation: EvaluationRun) -> dict[str, Any]:
    show = request.GET.get("show", "all")
    show = show if show in EXAMPLE_FILTERS[:2] else "all"
    rows = paginate(request, evaluation_examples(evaluation, show=show))
    rows.object_list = [example_row(prediction) for prediction in rows.object_list]
    return {
        "evaluation": evaluation,
        "elapsed": elapsed_seconds(evaluation),
        "budget": evaluation.config.get("budget") or {},
        "show": show,
        "filters": EXAMPLE_FILTERS[:2],
        "rows": rows,
        "confusion": confusion_matrix("Answers", evaluation, evaluation.version) if evaluation.is_finished else None,
    }


@team_page
def evaluation_detail(request: TeamRequest, evaluation_id: int) -> HttpResponse:
    evaluation = _evaluation(request, evaluation_id)
    return page(request, "ui/evaluations/detail.html", _context(request, evaluation))


@team_page
def evaluation_live(request: TeamRequest, evaluation_id: int) -> HttpResponse:
    """Polled while the evaluation works; stops (and reloads the page once) when it has finished."""
    evaluation = _evaluation(request, evaluation_id)
    response = page(request, "ui/evaluations/_live.html", _context(request, evaluation))
    if evaluation.is_finished and request.GET.get("was") == "active":
        response["HX-Refresh"] = "true"
    return response


@require_POST
@team_page
def evaluation_cancel_view(request: TeamRequest, evaluation_id: int) -> HttpResponse:
    evaluation = _evaluation(request, evaluation_id)
    try:
        evaluation_cancel(evaluation=evaluation, actor=request.actor)
    except PromptOptError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Cancel requested: the evaluation stops and keeps the examples it scored.")
    return HttpResponseRedirect(reverse("ui:evaluation", args=[request.team.slug, evaluation.pk]))
