"""The team's dashboard: recent runs, the latest finished run's report and charts, prompts, this month's usage."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, Max, Q, Sum
from django.http import HttpResponse
from django.utils import timezone

from accounts.scope import visible_to
from promptopt.ui import TeamRequest, page, team_page
from prompts.selectors import dataset_list_visible_to, prompt_list_visible_to
from workflows.models import FINISHED_STATUSES, OptimizationRun, PlaygroundCall
from workflows.run_outputs import RunReport
from workflows.run_page import calls_chart, iteration_scores, score_chart
from workflows.selectors import evaluation_list_visible_to, run_list_visible_to

RECENT = 5


@dataclass
class MonthUsage:
    calls: int = 0
    cached_calls: int = 0
    tokens: int = 0
    cost_usd: Decimal = Decimal("0")
    jobs: int = 0
    playground_calls: int = 0


def month_usage(request: TeamRequest) -> MonthUsage:
    """Calls, tokens and cost of the team's runs and evaluations started this calendar month (UTC). A run's
    final test is counted once, in the run; the playground's single calls are counted too."""
    start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    usage = MonthUsage()
    runs = run_list_visible_to(actor=request.actor).filter(team=request.team, created_at__gte=start)
    evaluations = evaluation_list_visible_to(actor=request.actor).filter(
        team=request.team, created_at__gte=start, optimization_run__isnull=True
    )
    for rows in (runs, evaluations):
        found = rows.aggregate(
            calls=Sum("calls"),
            cached=Sum("cached_calls"),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cost=Sum("cost_usd"),
            jobs=Count("pk"),
        )
        usage.calls += found["calls"] or 0
        usage.cached_calls += found["cached"] or 0
        usage.tokens += (found["input_tokens"] or 0) + (found["output_tokens"] or 0)
        usage.cost_usd += found["cost"] or Decimal("0")
        usage.jobs += found["jobs"] or 0
    playground = visible_to(PlaygroundCall, request.actor).filter(team=request.team, created_at__gte=start)
    found = playground.aggregate(
        calls=Count("pk", filter=Q(cached=False)),
        cached=Count("pk", filter=Q(cached=True)),
        input_tokens=Sum("input_tokens"),
        output_tokens=Sum("output_tokens"),
        cost=Sum("cost_usd"),
    )
    usage.calls += found["calls"]
    usage.cached_calls += found["cached"]
    usage.tokens += (found["input_tokens"] or 0) + (found["output_tokens"] or 0)
    usage.cost_usd += found["cost"] or Decimal("0")
    usage.playground_calls = found["calls"] + found["cached"]
    return usage


@team_page
def dashboard(request: TeamRequest) -> HttpResponse:
    runs = (
        run_list_visible_to(actor=request.actor)
        .filter(team=request.team)
        .select_related("prompt", "baseline_version", "best_version", "dataset_version__dataset")
        .defer("checkpoint")
        .order_by("-created_at", "-pk")
    )
    recent_runs = list(runs[:RECENT])
    featured: OptimizationRun | None = runs.filter(status__in=FINISHED_STATUSES).exclude(report={}).first()
    context: dict[str, Any] = {
        "runs": recent_runs,
        "featured": featured,
        "usage": month_usage(request),
        "prompts": prompt_list_visible_to(actor=request.actor)
        .filter(team=request.team)
        .annotate(latest=Max("versions__number"))
        .order_by("-updated_at", "-pk")[:RECENT],
        "has_datasets": dataset_list_visible_to(actor=request.actor).filter(team=request.team).exists(),
        "evaluations": evaluation_list_visible_to(actor=request.actor)
        .filter(team=request.team, optimization_run__isnull=True)
        .select_related("version__prompt", "dataset_version__dataset")
        .order_by("-created_at", "-pk")[:RECENT],
    }
    if featured is not None:
        rows = iteration_scores(featured)
        context |= {
            "report": RunReport.model_validate(featured.report),
            "score_chart": score_chart(rows),
            "calls_chart": calls_chart(featured, rows),
        }
    return page(request, "ui/dashboard.html", context)
