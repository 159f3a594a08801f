"""Reads of optimization and evaluation runs, scoped to the teams a user belongs to."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.selectors import AnyUser, team_list_for_user
from workflows.models import EvaluationRun, OptimizationRun


def run_list_visible_to(*, user: AnyUser) -> QuerySet[OptimizationRun]:
    return OptimizationRun.objects.filter(team__in=team_list_for_user(user=user)).select_related(
        "team", "prompt", "baseline_version", "dataset_version__dataset", "best_version"
    )


def evaluation_list_visible_to(*, user: AnyUser) -> QuerySet[EvaluationRun]:
    return EvaluationRun.objects.filter(team__in=team_list_for_user(user=user)).select_related(
        "team", "version__prompt", "dataset_version__dataset"
    )
