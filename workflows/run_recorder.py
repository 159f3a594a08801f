"""Persists what the engine reports: iterations, steps, candidates, predictions and the checkpoint, per step."""

from __future__ import annotations

from typing import Protocol

from django.db import transaction
from django.utils import timezone

from prompts.content import PromptContent
from workflows.engine.loop import StepRecord
from workflows.engine.scoring import SearchCancelled
from workflows.engine.state import STEP_ORDER, EngineState, StepName
from workflows.jobs import job_still_held
from workflows.models import Candidate, Iteration, IterationStep, OptimizationRun, Prediction, StepStatus
from workflows.predictions import prediction_fields


class StepListener(Protocol):
    def step_started(self, iteration: int, step: StepName) -> None: ...


class LeaseLost(Exception):
    """Another worker took the run over (this one was presumed dead): stop without writing anything."""


class RunRecorder:
    """The engine's recorder for one claimed run. Each `step_finished` is one transaction: the step's rows,
    the step's status and the engine state are written together or not at all, so a worker killed mid-step
    leaves the previous checkpoint intact and a resumed run repeats only the unfinished step."""

    def __init__(self, run: OptimizationRun, *, total_steps: int, progress: StepListener | None = None) -> None:
        self._progress = progress
        self._run = run
        self._total_steps = total_steps
        self._baseline_key = PromptContent.from_dict(run.baseline_version.content()).key

    def step_started(self, iteration: int, step: StepName) -> None:
        # Checked before every step as well as by the heartbeat: a cancel never waits for a whole step.
        self._stop_if_cancelled()
        if self._progress is not None:
            self._progress.step_started(iteration, step)
        now = timezone.now()
        row, _created = Iteration.objects.get_or_create(
            run=self._run, index=iteration, defaults={"status": StepStatus.RUNNING, "started_at": now}
        )
        IterationStep.objects.update_or_create(
            iteration=row, kind=step, defaults={"status": StepStatus.RUNNING, "started_at": now}
        )
        OptimizationRun.objects.filter(pk=self._run.pk).update(
            progress_message=f"iteration {iteration}: {IterationStep(kind=step).get_kind_display()}"
        )

    def step_finished(self, record: StepRecord, state: EngineState) -> None:
        with transaction.atomic():
            if not job_still_held(self._run):
                raise LeaseLost(f"run {self._run.pk} was taken over by another worker")
            iteration = Iteration.objects.get(run=self._run, index=record.iteration)
            for candidate in record.candidates:
                Candidate.objects.update_or_create(
                    iteration=iteration,
                    key=candidate.key,
                    defaults={
                        "content": candidate.content,
                        "strategy": candidate.strategy[:50],
                        "rationale": candidate.rationale,
                        "params": candidate.params,
                        "minibatch_score": candidate.minibatch_score,
                        "validation_score": candidate.validation_score,
                        "accepted": candidate.key == record.accepted_key,
                    },
                )
            now = timezone.now()
            step = IterationStep.objects.get(iteration=iteration, kind=record.step)
            step.status = StepStatus.SKIPPED if record.skipped else StepStatus.SUCCEEDED
            step.finished_at = now
            # The calls spent when the step ended: the run page plots best-so-far against them.
            step.summary = {**record.summary, "calls_after": state.usage.calls}
            step.save(update_fields=["status", "finished_at", "summary"])
            self._write_predictions(step, record)
            if record.step == "second_evaluation":
                Iteration.objects.filter(pk=iteration.pk).update(status=StepStatus.SUCCEEDED, finished_at=now)
            done = (record.iteration - 1) * len(STEP_ORDER) + STEP_ORDER.index(record.step) + 1
            OptimizationRun.objects.filter(pk=self._run.pk).update(
                checkpoint=state.model_dump(mode="json"),
                progress=min(0.95, done / self._total_steps),
                # No usage totals here: the spend journal has written them call by call (spend_journal.py).
                baseline_score=state.baseline.validation_score,
                best_score=state.incumbent.validation_score,
            )
        self._stop_if_cancelled()

    def _stop_if_cancelled(self) -> None:
        if OptimizationRun.objects.filter(pk=self._run.pk, cancel_requested_at__isnull=False).exists():
            raise SearchCancelled

    def _write_predictions(self, step: IterationStep, record: StepRecord) -> None:
        if not record.predictions:
            return
        keys = {key for key, _scored in record.predictions}
        baseline_key = self._baseline_key
        # The latest candidate row with each key: an incumbent accepted earlier keeps its first row's identity.
        candidate_ids = dict(
            Candidate.objects.filter(iteration__run=self._run, key__in=keys - {baseline_key})
            .order_by("iteration__index")
            .values_list("key", "pk")
        )
        rows = []
        for key, scored in record.predictions:
            subject: dict[str, object] = (
                {"version_id": self._run.baseline_version_id}
                if key == baseline_key
                else {"candidate_id": candidate_ids[key]}
            )
            rows.append(Prediction(step=step, example_id=scored.example_id, **subject, **prediction_fields(scored)))
        # ignore_conflicts: an example scored twice in one step for one subject keeps its first row.
        Prediction.objects.bulk_create(rows, ignore_conflicts=True)
