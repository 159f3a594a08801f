"""What makes two optimization runs end "the same", for tests that interrupt one and compare it with another."""

from __future__ import annotations

from django.db.models import Count

from workflows.models import OptimizationRun, Prediction


def run_result(run: OptimizationRun) -> dict[str, object]:
    """Status, validation and test scores, the paired test difference and the winner's content."""
    winner = run.best_version
    return {
        "status": run.status,
        "baseline_score": run.baseline_score,
        "best_score": run.best_score,
        "baseline_test_score": run.baseline_test_score,
        "best_test_score": run.best_test_score,
        "test_difference": (run.report or {}).get("test_difference"),
        "winner": winner.content_hash if winner else None,
    }


def predictions_per_step(run: OptimizationRun) -> dict[tuple[int, str], int]:
    rows = (
        Prediction.objects.filter(step__iteration__run=run)
        .values("step__iteration__index", "step__kind")
        .annotate(rows=Count("pk"))
        .values_list("step__iteration__index", "step__kind", "rows")
        .order_by()
    )
    return {(index, kind): count for index, kind, count in rows}
