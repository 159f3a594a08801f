"""Reads of optimization and evaluation runs, scoped to what the acting user or key may see."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.actors import Actor
from accounts.scope import visible_to
from workflows.models import EvaluationRun, OptimizationRun


def run_list_visible_to(*, actor: Actor) -> QuerySet[OptimizationRun]:
    return visible_to(OptimizationRun, actor).select_related(
        "team", "prompt", "baseline_version", "dataset_version__dataset", "best_version"
    )


def evaluation_list_visible_to(*, actor: Actor) -> QuerySet[EvaluationRun]:
    return visible_to(EvaluationRun, actor).select_related("team", "version__prompt", "dataset_version__dataset")
