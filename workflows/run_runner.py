"""Executes an optimization run: claim, search from the last checkpoint, final test, winner saved, report.

The Django side of the engine: it builds the gateways (one budget for the task, optimizer and judge models),
loads the search data (train and validation only), runs `Engine.search`, and only after that loads the test
split and scores baseline and winner on it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Protocol

from django.db import DatabaseError, transaction
from django.utils import timezone

from promptopt.errors import PromptOptError
from promptopt.logs import log_context
from prompts.content import PromptContent
from prompts.models import Example, PromptVersion
from prompts.splits import Split
from workflows.call_cache import TeamCallCache
from workflows.engine.config import RunConfig, run_config_parse
from workflows.engine.final_test import TestReport, final_test
from workflows.engine.loop import Engine
from workflows.engine.optimizer_model import GatewayOptimizerModel
from workflows.engine.output_bound import OutputBound, output_bound, within_bound
from workflows.engine.plan import search_plan
from workflows.engine.scoring import Scorer, SearchCancelled
from workflows.engine.shorter import winner_choice
from workflows.engine.state import STEP_ORDER, CandidateState, EngineState, StepName, UsageState
from workflows.engine.strategies.registry import strategies_build
from workflows.gateway.budget import BudgetLedger
from workflows.gateway.gateway import Gateway
from workflows.gateway.providers.base import Provider, ProviderConfigError, scores_choices
from workflows.jobs import LeaseHeartbeat, job_claim, job_still_held
from workflows.metric_build import metric_build
from workflows.metrics import Metric
from workflows.models import (
    EvaluationRun,
    Iteration,
    IterationStep,
    JobStatus,
    OptimizationRun,
    Prediction,
    StepStatus,
)
from workflows.predictions import prediction_fields
from workflows.provider_factory import model_prices, provider_build, retry_policy, task_model_for, vertex_settings
from workflows.run_budget import UsageMeter, final_budget, search_budget
from workflows.run_data import held_out_examples_load, search_data_load
from workflows.run_lineage import lineage_save
from workflows.run_recorder import LeaseLost, RunRecorder
from workflows.run_report import report_build
from workflows.spend_journal import JobSpendJournal, spent_so_far

logger = logging.getLogger("promptopt.optimization")


class RunProgress(Protocol):
    """What a foreground caller (the `optimize` command) is told as the run goes."""

    def step_started(self, iteration: int, step: StepName) -> None: ...

    def examples_done(self, count: int) -> None: ...

    def phase(self, name: str, total: int) -> None: ...


@dataclass
class _Models:
    task_provider: Provider
    task_gateway: Gateway
    optimizer_gateway: Gateway | None
    metric: Metric
    journal: JobSpendJournal


def _models_build(run: OptimizationRun, config: RunConfig, ledger: BudgetLedger, task_provider: Provider) -> _Models:
    cache = TeamCallCache(team=run.team)
    journal = JobSpendJournal(run)
    known_prices = model_prices()

    def gateway(provider: Provider) -> Gateway:
        return Gateway(
            provider=provider,
            cache=cache,
            prices=known_prices,
            fresh=config.fresh,
            ledger=ledger,
            retry=retry_policy(),
            journal=journal,
        )

    task_gateway = gateway(task_provider)
    optimizer_gateway = None
    if config.optimizer_provider:
        optimizer_gateway = gateway(provider_build(name=config.optimizer_provider, model=config.optimizer_model or ""))

    def judge_gateway(provider_name: str | None, model: str | None) -> Gateway:
        if not provider_name:
            return task_gateway
        return gateway(provider_build(name=provider_name, model=model or ""))

    metric = metric_build(config.metric, judge_gateway=judge_gateway)
    return _Models(task_provider, task_gateway, optimizer_gateway, metric, journal)


def run_execute(*, run_id: int, progress: RunProgress | None = None) -> OptimizationRun | None:
    """Claim and run one optimization to the end; None when another worker holds it or it is finished."""
    run = job_claim(OptimizationRun, job_id=run_id)
    if run is None:
        return None
    with log_context(run_id=f"run-{run.pk}"):
        heartbeat = LeaseHeartbeat(run)
        with heartbeat:
            try:
                _execute(run, heartbeat, progress)
            except SearchCancelled:
                if heartbeat.lost:
                    logger.warning("run %s: stopped, another worker has taken it over", run.pk)
                    return None
                _finish_without_result(run, JobStatus.CANCELLED, "cancelled; completed steps are kept")
            except LeaseLost as error:
                logger.warning("%s", error)
                return None
            except (PromptOptError, ProviderConfigError) as error:
                logger.warning("run %s refused: %s", run.pk, error)
                _finish_without_result(run, JobStatus.FAILED, str(error))
            except DatabaseError:
                # Possibly transient (a lost connection): leave the run to lapse and be resumed by the reaper.
                logger.exception("run %s: database error; the run will be resumed from its last checkpoint", run.pk)
                raise
            except Exception as error:
                logger.exception("run %s failed", run.pk)
                _finish_without_result(run, JobStatus.FAILED, f"{type(error).__name__}: {error}")
    run.refresh_from_db()
    return run


def _finish_without_result(run: OptimizationRun, status: JobStatus, message: str) -> None:
    with transaction.atomic():
        finished = OptimizationRun.objects.filter(pk=run.pk, status=JobStatus.RUNNING, attempts=run.attempts).update(
            status=status, error_message=message[:5000], finished_at=timezone.now(), lease_expires_at=None
        )
        if finished:
            _close_open_iterations(run, StepStatus.FAILED if status == JobStatus.FAILED else StepStatus.SKIPPED)


def _close_open_iterations(run: OptimizationRun, status: StepStatus) -> None:
    """An iteration (and its step) cut short by the end of the run (a budget, a cancel, a failure) is closed,
    so no page shows it running forever; what it completed stays recorded."""
    now = timezone.now()
    open_statuses = (StepStatus.PENDING, StepStatus.RUNNING)
    IterationStep.objects.filter(iteration__run=run, status__in=open_statuses).update(status=status, finished_at=now)
    Iteration.objects.filter(run=run, status__in=open_statuses).update(status=status, finished_at=now)


def _execute(run: OptimizationRun, heartbeat: LeaseHeartbeat, progress: RunProgress | None) -> None:
    if run.cancel_requested_at is not None:
        raise SearchCancelled
    config = run_config_parse(run.config)
    data = search_data_load(dataset_version=run.dataset_version)
    baseline = PromptContent.from_dict(run.baseline_version.content())
    state = EngineState.model_validate(run.checkpoint) if run.checkpoint else Engine.initial_state(baseline)
    test_size = Example.objects.filter(version=run.dataset_version, split=Split.TEST).count()
    # Recomputed, not read back: the same config and split sizes give the plan the estimate showed.
    plan = search_plan(config, train_size=len(data.train), validation_size=len(data.validation), test_size=test_size)
    estimated_calls = int(run.estimate.get("task_calls", 0)) or plan.test_reserve_calls * 2
    bound = output_bound(data.train, metric_name=str(config.metric.get("name", "")))
    # Earlier attempts' spending from the run row, which the journal keeps to the call, not from the
    # checkpoint, which misses the calls of a step its worker died in.
    spent_before = spent_so_far(run, seconds=state.usage.seconds)
    meter = UsageMeter(spent_before)
    ledger = meter.track(
        BudgetLedger(
            search_budget(config, used=spent_before, test_size=test_size, estimated_calls=estimated_calls),
            clock=time.monotonic,
        )
    )
    provider_name, model_name = task_model_for(run.baseline_version, config)
    task_provider = provider_build(name=provider_name, model=model_name)
    models = _models_build(run, config, ledger, task_provider)

    def on_examples(count: int) -> None:
        if progress is not None:
            progress.examples_done(count)

    scorer = Scorer(
        gateway=models.task_gateway,
        metric=models.metric,
        seed=config.seed,
        should_stop=heartbeat.should_stop,
        on_examples=on_examples,
    )
    if not state.stop_reason:
        recorder = RunRecorder(run, total_steps=plan.iterations * len(STEP_ORDER), progress=progress)
        optimizer = (
            GatewayOptimizerModel(gateway=models.optimizer_gateway, seed=config.seed)
            if models.optimizer_gateway is not None
            else None
        )
        engine = Engine(
            data=data,
            config=config,
            plan=plan,
            scorer=scorer,
            strategies=strategies_build(
                config.strategies,
                optimizer_available=optimizer is not None,
                vertex=vertex_settings(),
                max_demos=config.max_demos,
            ),
            recorder=recorder,
            usage=meter,
            exhausted_reason=lambda: ledger.exhausted_reason,
            remaining_calls=lambda: ledger.remaining_calls,
            optimizer=optimizer,
            provider_scores_choices=scores_choices(task_provider),
        )
        state = engine.search(state)
    _fail_if_the_provider_never_answered(run, meter())
    _final_phase(run, config, state, meter, models, heartbeat, progress, provider_name, model_name, bound)


class ProviderDownError(PromptOptError):
    """Every call of the search failed: there is nothing to compare, so the run fails instead of "succeeding"
    with a winner chosen among prompts that were never answered."""


def _fail_if_the_provider_never_answered(run: OptimizationRun, usage: UsageState) -> None:
    # Decided on the task model's outputs (the run's predictions), not on the usage totals: those also hold the
    # optimizer's and a judge's calls, which may answer while the task model is down.
    predictions = Prediction.objects.filter(step__iteration__run=run)
    if not predictions.exists() or predictions.filter(error="").exists():
        return
    last_error = predictions.order_by("-id").values_list("error", flat=True).first()
    raise ProviderDownError(
        f"every call to the task model failed ({usage.failed_calls} calls after {usage.retries} retries), so "
        f"nothing could be compared; the last error: {last_error or 'unknown'}. Completed steps are kept: "
        "retry the run once the provider answers."
    )


def _final_phase(
    run: OptimizationRun,
    config: RunConfig,
    state: EngineState,
    meter: UsageMeter,
    models: _Models,
    heartbeat: LeaseHeartbeat,
    progress: RunProgress | None,
    provider_name: str,
    model_name: str,
    bound: OutputBound,
) -> None:
    """Now, and only now, the test split: baseline and winner scored once each, then everything saved.

    The baseline is tested as its version is saved; the winner as it was searched and will be saved, with
    the output bound it was validated under (workflows/engine/output_bound.py)."""
    test = held_out_examples_load(dataset_version=run.dataset_version)
    ledger = meter.track(BudgetLedger(final_budget(config, used=meter()), clock=time.monotonic))
    gateway = Gateway(
        provider=models.task_provider,
        cache=TeamCallCache(team=run.team),
        prices=model_prices(),
        fresh=config.fresh,
        ledger=ledger,
        retry=retry_policy(),
        journal=models.journal,
    )
    choice = winner_choice(state, confidence=config.confidence, seed=config.seed)
    chosen = choice.winner(config.prefer)
    winner_is_baseline = chosen.key == state.baseline.key
    if progress is not None:
        progress.phase("final test", len(test) * (1 if winner_is_baseline else 2))
    scorer = Scorer(
        gateway=gateway,
        metric=models.metric,
        seed=config.seed,
        should_stop=heartbeat.should_stop,
        on_examples=(lambda count: progress.examples_done(count)) if progress is not None else None,
    )
    baseline = state.baseline.prompt()

    def as_saved(candidate: CandidateState) -> PromptContent:
        """The baseline as its version is saved; any other prompt with the bound it was searched under."""
        return baseline if candidate.key == state.baseline.key else within_bound(candidate.prompt(), bound)

    winner = as_saved(chosen)
    test_report = final_test(
        scorer=scorer, baseline=baseline, winner=winner, test=test, confidence=config.confidence, seed=config.seed
    )
    with transaction.atomic():
        if not job_still_held(run):
            raise LeaseLost(f"run {run.pk} was taken over by another worker")
        # The journal's totals (every attempt, every call), which the row already holds.
        usage = spent_so_far(run, seconds=meter().seconds)
        winner_version = None
        if not winner_is_baseline:
            # Each accepted incumbent becomes a version, the winner last; the candidate rows point at them.
            winner_version = lineage_save(
                run,
                state,
                choice,
                chosen,
                winner,
                as_searched=lambda content: within_bound(content, bound),
                provider_name=provider_name,
                model_name=model_name,
            )
        _test_evaluations_save(run, config, test_report, winner_version)
        _close_open_iterations(run, StepStatus.SKIPPED)
        exhausted = state.budget_exhausted or bool(ledger.exhausted_reason)
        report = report_build(
            run=run,
            config=config,
            state=state,
            choice=choice,
            winner=chosen,
            as_saved=as_saved,
            test=test_report,
            winner_version=winner_version,
            usage=usage,
            test_budget_reason=ledger.exhausted_reason or "",
        )
        OptimizationRun.objects.filter(pk=run.pk).update(
            status=JobStatus.BUDGET_EXHAUSTED if exhausted else JobStatus.SUCCEEDED,
            best_version=winner_version or run.baseline_version,
            baseline_score=state.baseline.validation_score,
            best_score=chosen.validation_score,
            baseline_test_score=test_report.baseline.mean if test_report.baseline else None,
            best_test_score=test_report.winner.mean if test_report.winner else None,
            stop_reason=state.stop_reason[:200],
            report=report.model_dump(mode="json"),
            checkpoint=state.model_dump(mode="json"),
            progress=1.0,
            progress_message="finished",
            finished_at=timezone.now(),
            lease_expires_at=None,
            error_message=("test split not fully scored: " + ledger.exhausted_reason)
            if ledger.exhausted_reason
            else "",
        )


def _test_evaluations_save(
    run: OptimizationRun, config: RunConfig, report: TestReport, winner_version: PromptVersion | None
) -> None:
    """The test scores as two evaluation runs linked to the run, so they read like any other evaluation."""
    pairs = [(run.baseline_version, report.baseline_scores, report.baseline)]
    if winner_version is not None:
        pairs.append((winner_version, report.winner_scores, report.winner))
    now = timezone.now()
    for version, scored, estimate in pairs:
        evaluation = EvaluationRun.objects.create(
            team=run.team,
            version=version,
            dataset_version=run.dataset_version,
            split=Split.TEST,
            config={"metric": config.metric, "seed": config.seed},
            optimization_run=run,
            status=JobStatus.SUCCEEDED if all(item.score is not None for item in scored) else JobStatus.PARTIAL,
            example_count=report.examples,
            scored_count=sum(item.score is not None for item in scored),
            score=estimate.mean if estimate else None,
            score_ci_low=estimate.low if estimate else None,
            score_ci_high=estimate.high if estimate else None,
            progress=1.0,
            created_by=run.created_by,
            created_by_api_key=run.created_by_api_key,
            started_at=now,
            finished_at=now,
        )
        Prediction.objects.bulk_create(
            Prediction(evaluation=evaluation, version=version, example_id=item.example_id, **prediction_fields(item))
            for item in scored
        )
