"""Comparing two evaluations of the same dataset version and split: example by example, with intervals.

Reads evaluation runs and their predictions whatever produced them (an evaluation, or a run's final test),
pairs them by example, and reports both scores, the paired difference with its interval, McNemar's p for
0/1 metrics, wins / losses / ties, and the examples that got worse.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from accounts.actors import Actor
from accounts.scope import visible_to
from promptopt.errors import ConflictError, InvalidInputError
from prompts.models import DatasetVersion, PromptVersion
from workflows.models import EvaluationRun, JobStatus, Prediction
from workflows.run_outputs import ScoreInterval
from workflows.stats import compare_paired, mean_with_interval

# Evaluations whose scores can be compared: finished, with at least the scored examples kept.
COMPARABLE_STATUSES = (JobStatus.SUCCEEDED, JobStatus.PARTIAL)
SHOWN_REGRESSIONS = 50
# How far back to look for two evaluations scored with the same metric.
RECENT_EVALUATIONS = 20


class ComparedSide(BaseModel):
    model_config = ConfigDict(frozen=True)

    evaluation: int
    prompt: str
    version: int
    score: ScoreInterval | None = Field(description="Over the examples both sides scored.")


class Regression(BaseModel):
    model_config = ConfigDict(frozen=True)

    position: int
    inputs: dict[str, Any]
    expected_output: str
    a_output: str
    a_score: float
    b_output: str
    b_score: float
    b_feedback: str


class Comparison(BaseModel):
    """B against A (B minus A), paired over the examples both scored."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    dataset_version: int
    split: str
    paired_examples: int
    a: ComparedSide
    b: ComparedSide
    difference: ScoreInterval | None
    wins: int = Field(description="Examples where B scored higher than A.")
    losses: int
    ties: int
    mcnemar_p: float | None
    regressions: list[Regression] = Field(description=f"Examples where B scored lower (at most {SHOWN_REGRESSIONS}).")
    regressions_total: int


def _interval(estimate: Any) -> ScoreInterval:
    return ScoreInterval(mean=estimate.mean, low=estimate.low, high=estimate.high, n=estimate.n)


def _scored(evaluation: EvaluationRun) -> dict[int, Prediction]:
    rows = Prediction.objects.filter(evaluation=evaluation, score__isnull=False).select_related("example")
    return {prediction.example_id: prediction for prediction in rows}


def evaluations_compare(*, actor: Actor, a: EvaluationRun, b: EvaluationRun, seed: int = 0) -> Comparison:
    """Compare two evaluations the actor may see; they must score the same dataset version and split."""
    visible = visible_to(EvaluationRun, actor).filter(pk__in=[a.pk, b.pk]).count()
    if visible != len({a.pk, b.pk}):
        raise InvalidInputError("both evaluations must belong to teams you can see")
    if (a.dataset_version_id, a.split) != (b.dataset_version_id, b.split):
        raise InvalidInputError(
            f"evaluations {a.pk} and {b.pk} scored different data ({a.dataset_version} {a.split} and "
            f"{b.dataset_version} {b.split}); compare evaluations of the same dataset version and split"
        )
    metrics = (a.config.get("metric"), b.config.get("metric"))
    if metrics[0] != metrics[1]:
        raise InvalidInputError(
            f"evaluations {a.pk} and {b.pk} were scored with different metrics ({metrics[0]} and {metrics[1]}); "
            "their scores cannot be compared"
        )
    for evaluation in (a, b):
        if evaluation.status not in COMPARABLE_STATUSES:
            raise ConflictError(f"evaluation {evaluation.pk} is {evaluation.status}; compare finished evaluations")
    a_rows, b_rows = _scored(a), _scored(b)
    shared = sorted(set(a_rows) & set(b_rows), key=lambda example_id: a_rows[example_id].example.position)
    a_scores = [a_rows[example_id].score or 0.0 for example_id in shared]
    b_scores = [b_rows[example_id].score or 0.0 for example_id in shared]
    comparison = compare_paired(a_scores, b_scores, seed=seed) if len(shared) >= 2 else None
    regressed = [
        example_id for example_id in shared if (b_rows[example_id].score or 0) < (a_rows[example_id].score or 0)
    ]
    dataset_version = a.dataset_version

    def side(evaluation: EvaluationRun, scores: list[float]) -> ComparedSide:
        return ComparedSide(
            evaluation=evaluation.pk,
            prompt=evaluation.version.prompt.slug,
            version=evaluation.version.number,
            score=_interval(mean_with_interval(scores, seed=seed)) if scores else None,
        )

    return Comparison(
        dataset=dataset_version.dataset.slug,
        dataset_version=dataset_version.number,
        split=a.split,
        paired_examples=len(shared),
        a=side(a, a_scores),
        b=side(b, b_scores),
        difference=_interval(comparison.difference) if comparison else None,
        wins=comparison.wins if comparison else 0,
        losses=comparison.losses if comparison else 0,
        ties=comparison.ties if comparison else len(shared),
        mcnemar_p=comparison.mcnemar_p if comparison else None,
        regressions=[
            Regression(
                position=a_rows[example_id].example.position,
                inputs=a_rows[example_id].example.inputs,
                expected_output=a_rows[example_id].example.expected_output,
                a_output=a_rows[example_id].output,
                a_score=a_rows[example_id].score or 0.0,
                b_output=b_rows[example_id].output,
                b_score=b_rows[example_id].score or 0.0,
                b_feedback=b_rows[example_id].feedback,
            )
            for example_id in regressed[:SHOWN_REGRESSIONS]
        ],
        regressions_total=len(regressed),
    )


def latest_comparable_pair(
    *, actor: Actor, versions: tuple[PromptVersion, PromptVersion], dataset_version: DatasetVersion, split: str
) -> tuple[EvaluationRun, EvaluationRun]:
    """The most recent finished evaluations of two versions on a dataset version's split that used the same
    metric (a run's final test counts as an evaluation), or ConflictError saying how to get them."""

    def recent(version: PromptVersion) -> list[EvaluationRun]:
        evaluations = list(
            visible_to(EvaluationRun, actor)
            .filter(version=version, dataset_version=dataset_version, split=split, status__in=COMPARABLE_STATUSES)
            .select_related("version__prompt", "dataset_version__dataset")
            .order_by("-finished_at", "-id")[:RECENT_EVALUATIONS]
        )
        if not evaluations:
            raise ConflictError(
                f"{version} has no finished evaluation on {dataset_version} ({split}); evaluate it there first "
                "(an optimization run's final test counts), then compare"
            )
        return evaluations

    a_recent, b_recent = recent(versions[0]), recent(versions[1])
    pairs = [(a, b) for a in a_recent for b in b_recent if a.config.get("metric") == b.config.get("metric")]
    if not pairs:
        raise ConflictError(
            f"{versions[0]} and {versions[1]} have no evaluations on {dataset_version} ({split}) scored with the "
            "same metric; evaluate both with one metric, then compare"
        )
    # The pair whose older member is the newest: the most recent state of both.
    return max(pairs, key=lambda pair: min(pair[0].pk, pair[1].pk))
