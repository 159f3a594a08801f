"""What the web UI's run and evaluation pages show, built from the stored rows (never from the checkpoint):
the five-step stepper, the score charts (as Chart.js configurations), the per-example tables and the
confusion matrices of choice outputs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from prompts.models import OutputType, PromptVersion
from workflows.models import (
    Candidate,
    EvaluationRun,
    Iteration,
    IterationStep,
    OptimizationRun,
    Prediction,
    StepKind,
    StepStatus,
)

# Chart colours: the UI's brand blue, a green for the best so far, greys for the rest (colour-blind safe pairs).
BLUE, GREEN, ORANGE, GREY = "#3355cc", "#1e8a4c", "#d9822b", "#8a8fa3"
EXAMPLE_FILTERS = ("all", "failures", "regressions", "improvements")


@dataclass(frozen=True)
class StepView:
    kind: str
    label: str
    status: str
    seconds: float | None
    note: str


def _step_note(step: IterationStep) -> str:
    summary: dict[str, Any] = step.summary or {}
    if step.kind == StepKind.PRIMARY_INFERENCE and "examples" in summary:
        return f"{summary['examples']} examples, {summary.get('cached', 0)} cached, {summary.get('failed', 0)} failed"
    if step.kind == StepKind.EVALUATION and summary.get("score") is not None:
        return f"score {summary['score']:.2f}, {summary.get('failures', 0)} failures"
    if step.kind == StepKind.PROPOSAL and "proposed" in summary:
        return f"{summary['proposed']} proposed"
    if step.kind == StepKind.REFINED_INFERENCE and "survivors" in summary:
        return f"{len(summary['survivors'])} kept for validation"
    if step.kind == StepKind.SECOND_EVALUATION and "candidates" in summary:
        return f"accepted {summary['accepted']}" if summary.get("accepted") else "none accepted"
    return str(summary.get("skipped") or summary.get("stopped") or "")


def run_steps(run: OptimizationRun) -> tuple[int | None, list[StepView]]:
    """The latest iteration's number and its five steps in order, each with its state and duration."""
    iteration = Iteration.objects.filter(run=run).order_by("-index").first()
    found = {step.kind: step for step in IterationStep.objects.filter(iteration=iteration)} if iteration else {}
    now = timezone.now()
    views = []
    for kind in StepKind:
        step = found.get(kind.value)
        if step is None:
            views.append(StepView(kind.value, kind.label, StepStatus.PENDING, None, ""))
            continue
        end = step.finished_at or (now if step.status == StepStatus.RUNNING and not run.is_finished else None)
        seconds = (end - step.started_at).total_seconds() if step.started_at and end else None
        views.append(StepView(kind.value, kind.label, step.status, seconds, _step_note(step)))
    return (iteration.index if iteration else None), views


@dataclass(frozen=True)
class IterationScores:
    index: int
    parent_minibatch: float | None  # the prompt the iteration improved (the incumbent or a beam prompt)
    best_candidate_minibatch: float | None
    best_candidate_validation: float | None
    best_so_far: float | None
    calls_after: int | None  # calls spent when the iteration's last finished step ended
    calls_first_step: int | None  # … when its first step ended (for iteration 1: baseline scored, one minibatch)


def _best(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return max(present) if present else None


def iteration_scores(run: OptimizationRun) -> list[IterationScores]:
    """Per finished-or-running iteration: the scores the charts plot."""
    steps: dict[tuple[int, str], IterationStep] = {
        (step.iteration.index, step.kind): step
        for step in IterationStep.objects.filter(iteration__run=run).select_related("iteration")
    }
    candidates: dict[int, list[Candidate]] = {}
    for candidate in Candidate.objects.filter(iteration__run=run).select_related("iteration").defer("content"):
        candidates.setdefault(candidate.iteration.index, []).append(candidate)
    indexes = sorted({index for index, _kind in steps})
    rows = []
    best_so_far = run.baseline_score
    for index in indexes:
        evaluation = steps.get((index, StepKind.EVALUATION))
        second = steps.get((index, StepKind.SECOND_EVALUATION))
        found = candidates.get(index, [])
        accepted = next((candidate for candidate in found if candidate.accepted), None)
        if second is not None and second.status == StepStatus.SUCCEEDED:
            incumbent = (second.summary or {}).get("incumbent")
            best_so_far = (
                accepted.validation_score if accepted else (incumbent if incumbent is not None else best_so_far)
            )
        last = second or steps.get((index, StepKind.REFINED_INFERENCE)) or evaluation
        first = steps.get((index, StepKind.PRIMARY_INFERENCE))
        rows.append(
            IterationScores(
                index=index,
                parent_minibatch=(evaluation.summary or {}).get("score") if evaluation else None,
                best_candidate_minibatch=_best(candidate.minibatch_score for candidate in found),
                best_candidate_validation=_best(candidate.validation_score for candidate in found),
                best_so_far=best_so_far,
                calls_after=(last.summary or {}).get("calls_after") if last else None,
                calls_first_step=(first.summary or {}).get("calls_after") if first else None,
            )
        )
    return rows


def _line(label: str, values: Sequence[Any], colour: str, **extra: Any) -> dict[str, Any]:
    return {"label": label, "data": list(values), "borderColor": colour, "backgroundColor": colour, **extra}


_UNIT_SCALE = {"min": 0, "max": 1, "title": {"display": True, "text": "score"}}


def score_chart(rows: Sequence[IterationScores]) -> dict[str, Any]:
    """Minibatch and validation scores per iteration, with the best validation score so far."""
    return {
        "type": "line",
        "data": {
            "labels": [f"iteration {row.index}" for row in rows],
            "datasets": [
                _line("parent, minibatch", [row.parent_minibatch for row in rows], GREY),
                _line("best candidate, minibatch", [row.best_candidate_minibatch for row in rows], ORANGE),
                _line("best candidate, validation", [row.best_candidate_validation for row in rows], BLUE),
                _line("best so far, validation", [row.best_so_far for row in rows], GREEN, stepped=True),
            ],
        },
        "options": {"scales": {"y": _UNIT_SCALE}, "spanGaps": True},
    }


def calls_chart(run: OptimizationRun, rows: Sequence[IterationScores]) -> dict[str, Any] | None:
    """Best validation score so far against the provider calls spent (None before there are two points, and
    for runs recorded before steps kept their call counts)."""
    points: list[dict[str, float | None]] = []
    if run.baseline_score is not None and rows and rows[0].calls_first_step is not None:
        # The baseline is known once it is scored on validation, just before iteration 1's first step ends.
        points.append({"x": rows[0].calls_first_step, "y": run.baseline_score})
    points += [{"x": row.calls_after, "y": row.best_so_far} for row in rows if row.calls_after is not None]
    if len(points) < 2:
        return None
    return {
        "type": "line",
        "data": {"datasets": [_line("best so far, validation", points, GREEN, stepped=True)]},
        "options": {
            "scales": {
                "x": {"type": "linear", "min": 0, "title": {"display": True, "text": "calls"}},
                "y": _UNIT_SCALE,
            },
        },
    }


def score_distribution_chart(named_scores: Sequence[tuple[str, Sequence[float]]]) -> dict[str, Any]:
    """How many examples got each score (in tenths), one bar series per evaluation."""
    edges = [round(step / 10, 1) for step in range(11)]
    colours = [GREY, BLUE, GREEN, ORANGE]
    datasets = []
    for number, (name, scores) in enumerate(named_scores):
        bins = Counter(min(10, int(score * 10 + 1e-9)) for score in scores)
        datasets.append(
            {"label": name, "data": [bins.get(i, 0) for i in range(11)], "backgroundColor": colours[number % 4]}
        )
    return {
        "type": "bar",
        "data": {"labels": [f"{edge:.1f}" for edge in edges], "datasets": datasets},
        "options": {
            "scales": {
                "x": {"title": {"display": True, "text": "score"}},
                "y": {"beginAtZero": True, "title": {"display": True, "text": "examples"}},
            }
        },
    }


@dataclass(frozen=True)
class ExampleRow:
    position: int
    inputs: dict[str, Any]
    expected: str
    before_output: str | None
    before_score: float | None
    output: str
    score: float | None
    feedback: str
    error: str

    @property
    def change(self) -> str:
        if self.before_score is None or self.score is None:
            return ""
        if self.score > self.before_score:
            return "better"
        return "worse" if self.score < self.before_score else "same"


def _keep(row: ExampleRow, show: str) -> bool:
    if show == "failures":
        return row.score is None or row.score < 1.0
    if show == "regressions":
        return row.change == "worse"
    if show == "improvements":
        return row.change == "better"
    return True


def example_row(prediction: Prediction, earlier: Prediction | None = None) -> ExampleRow:
    return ExampleRow(
        position=prediction.example.position,
        inputs=prediction.example.inputs,
        expected=prediction.example.expected_output,
        before_output=earlier.output if earlier else None,
        before_score=earlier.score if earlier else None,
        output=prediction.output,
        score=prediction.score,
        feedback=prediction.feedback,
        error=prediction.error,
    )


def _predictions(rows: QuerySet[Prediction]) -> dict[int, Prediction]:
    return {prediction.example_id: prediction for prediction in rows.select_related("example")}


def paired_examples(before: EvaluationRun | None, after: EvaluationRun, *, show: str = "all") -> list[ExampleRow]:
    """`after`'s outputs example by example, beside `before`'s when given (the same split of the same data)."""
    after_rows = _predictions(Prediction.objects.filter(evaluation=after))
    before_rows = _predictions(Prediction.objects.filter(evaluation=before)) if before is not None else {}
    rows = []
    for example_id, prediction in sorted(after_rows.items(), key=lambda item: item[1].example.position):
        row = example_row(prediction, before_rows.get(example_id))
        if _keep(row, show):
            rows.append(row)
    return rows


def evaluation_examples(evaluation: EvaluationRun, *, show: str = "all") -> QuerySet[Prediction]:
    """An evaluation's scored examples in file order, failures only when asked (the database filters and
    pages them: an evaluation page is polled every 2 s while it works)."""
    rows = Prediction.objects.filter(evaluation=evaluation).select_related("example").order_by("example__position")
    if show == "failures":
        rows = rows.filter(Q(score__lt=1.0) | Q(score__isnull=True))
    return rows


def latest_step_examples(run: OptimizationRun, *, show: str = "all") -> tuple[IterationStep | None, list[ExampleRow]]:
    """While a run searches: the incumbent's scored outputs from the latest evaluation step."""
    step = (
        IterationStep.objects.filter(iteration__run=run, kind=StepKind.EVALUATION, status=StepStatus.SUCCEEDED)
        .select_related("iteration")
        .order_by("-iteration__index")
        .first()
    )
    if step is None:
        return None, []
    rows = []
    for prediction in Prediction.objects.filter(step=step).select_related("example").order_by("example__position"):
        row = example_row(prediction)
        if _keep(row, show):
            rows.append(row)
    return step, rows


@dataclass(frozen=True)
class ConfusionMatrix:
    title: str
    labels: list[str]  # the choices, then "other" for answers that are none of them
    rows: list[tuple[str, list[int]]]  # expected label → counts per predicted label


def _as_choice(text: str, choices: dict[str, str]) -> str:
    return choices.get(" ".join(text.split()).casefold(), "other")


def confusion_matrix(title: str, evaluation: EvaluationRun, version: PromptVersion) -> ConfusionMatrix | None:
    """Expected against predicted answers, for choice outputs only."""
    if version.output_type != OutputType.CHOICE or not version.output_choices:
        return None
    choices = {" ".join(choice.split()).casefold(): choice for choice in version.output_choices}
    labels = [*version.output_choices, "other"]
    counts: Counter[tuple[str, str]] = Counter()
    for prediction in Prediction.objects.filter(evaluation=evaluation).select_related("example"):
        counts[(_as_choice(prediction.example.expected_output, choices), _as_choice(prediction.output, choices))] += 1
    rows = [(expected, [counts[(expected, predicted)] for predicted in labels]) for expected in labels]
    return ConfusionMatrix(title, labels, [row for row in rows if sum(row[1]) or row[0] != "other"])


def elapsed_seconds(run: OptimizationRun | EvaluationRun) -> float | None:
    """Seconds since the start: until now while it works, until the end once finished."""
    if run.started_at is None:
        return None
    return ((run.finished_at or timezone.now()) - run.started_at).total_seconds()


def run_candidates(run: OptimizationRun, *, limit: int = 60) -> list[Candidate]:
    """The latest iterations' candidates first, best scores first within an iteration."""
    return list(
        Candidate.objects.filter(iteration__run=run)
        .select_related("iteration", "version")
        .defer("content", "params")
        .order_by(
            "-iteration__index",
            F("validation_score").desc(nulls_last=True),
            F("minibatch_score").desc(nulls_last=True),
            "pk",
        )[:limit]
    )
