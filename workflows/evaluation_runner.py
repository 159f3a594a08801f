"""Executes an evaluation run: renders each example, calls the gateway, scores, and checkpoints predictions."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.utils import timezone

from promptopt.errors import InvalidInputError
from promptopt.logs import log_context
from prompts.models import Example
from workflows.call_cache import TeamCallCache
from workflows.engine.data import EngineExample
from workflows.engine.scoring import Scorer
from workflows.evaluation_config import EvaluationConfig, evaluation_config_parse
from workflows.gateway.budget import Budget, BudgetLedger
from workflows.gateway.gateway import Gateway
from workflows.gateway.providers.base import ProviderConfigError
from workflows.jobs import job_claim, job_heartbeat
from workflows.metric_build import metric_build
from workflows.metrics import Metric
from workflows.models import EvaluationRun, JobStatus, Prediction
from workflows.predictions import prediction_fields
from workflows.provider_factory import model_prices, provider_build, retry_policy
from workflows.spend_journal import JobSpendJournal, spent_so_far
from workflows.stats import mean_with_interval

logger = logging.getLogger("promptopt.evaluation")

# Examples are read and predictions written in chunks: memory stays flat on 100,000-row datasets,
# and each chunk is a checkpoint a restarted worker does not redo.
CHUNK_SIZE = 200

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class EvaluationOutcome:
    evaluation: EvaluationRun
    wall_seconds: float


def _pending_examples(evaluation: EvaluationRun) -> Iterator[list[Example]]:
    """Examples of the split without a prediction yet, in file order, a chunk at a time."""
    done = Prediction.objects.filter(evaluation=evaluation).values("example_id")
    examples = (
        Example.objects.filter(version=evaluation.dataset_version, split=evaluation.split)
        .exclude(pk__in=done)
        .order_by("position")
    )
    last_position = -1
    while True:
        chunk = list(examples.filter(position__gt=last_position)[:CHUNK_SIZE])
        if not chunk:
            return
        yield chunk
        last_position = chunk[-1].position


def _remaining_budget(evaluation: EvaluationRun, config: EvaluationConfig) -> Budget:
    """The evaluation's budget minus what its earlier attempts spent (the row's journal totals), so a resumed
    evaluation cannot spend its budget a second time. Wall time counts per attempt: the row keeps no seconds."""
    limits, spent = config.budget, spent_so_far(evaluation)

    def left(limit: float | None, used: float) -> float | None:
        return None if limit is None else max(0.0, limit - used)

    tokens = left(limits.max_tokens, spent.input_tokens + spent.output_tokens)
    return Budget(
        max_calls=None if limits.max_calls is None else max(0, limits.max_calls - spent.calls),
        max_tokens=None if tokens is None else int(tokens),
        max_cost_usd=left(limits.max_cost_usd, spent.cost_usd),
        max_seconds=limits.max_seconds,
    )


@dataclass(frozen=True)
class _Spending:
    """One budget and one journal for the evaluation, shared by its model's gateway and any judge's."""

    ledger: BudgetLedger
    journal: JobSpendJournal


def _gateway_for(
    evaluation: EvaluationRun,
    config: EvaluationConfig,
    spending: _Spending,
    *,
    provider_name: str | None = None,
    model: str | None = None,
) -> Gateway:
    version = evaluation.version
    provider = provider_build(
        name=provider_name or config.provider or version.provider, model=model or config.model or version.model_name
    )
    return Gateway(
        provider=provider,
        cache=TeamCallCache(team=evaluation.team),
        ledger=spending.ledger,
        journal=spending.journal,
        prices=model_prices(),
        fresh=config.fresh,
        retry=retry_policy(),
    )


def _metric_for(evaluation: EvaluationRun, config: EvaluationConfig, spending: _Spending) -> Metric:
    """The configured metric; an LLM judge gets its own gateway, spending from the evaluation's budget."""

    def judge_gateway(provider_name: str | None, model: str | None) -> Gateway:
        return _gateway_for(evaluation, config, spending, provider_name=provider_name, model=model)

    return metric_build(config.metric, judge_gateway=judge_gateway)


def _finish(evaluation: EvaluationRun, *, total: int, seed: int, stopped_reason: str, cancelled: bool) -> EvaluationRun:
    predictions = Prediction.objects.filter(evaluation=evaluation)
    scores = [score for score in predictions.values_list("score", flat=True) if score is not None]
    failed = predictions.filter(score=None).count()
    fields: dict[str, object] = {
        "example_count": total,
        "scored_count": len(scores),
        "finished_at": timezone.now(),
        "lease_expires_at": None,
        "progress": 1.0 if len(scores) + failed == total else evaluation.progress,
    }
    if scores:
        estimate = mean_with_interval(scores, seed=seed)
        fields.update(score=estimate.mean, score_ci_low=estimate.low, score_ci_high=estimate.high)
    missing = total - len(scores)
    first_error = predictions.filter(score=None).exclude(error="").values_list("error", flat=True).first()
    if cancelled:
        fields.update(status=JobStatus.CANCELLED, error_message=f"cancelled; {len(scores)} of {total} scored")
    elif missing == 0:
        fields.update(status=JobStatus.SUCCEEDED, error_message="")
    elif not scores:
        fields.update(status=JobStatus.FAILED, error_message=stopped_reason or first_error or "no example was scored")
    else:
        reason = stopped_reason or f"{failed} predictions failed, e.g.: {first_error}"
        fields.update(status=JobStatus.PARTIAL, error_message=f"{missing} of {total} examples not scored: {reason}")
    EvaluationRun.objects.filter(pk=evaluation.pk).update(**fields)
    evaluation.refresh_from_db()
    return evaluation


def evaluation_execute(*, evaluation_id: int, on_progress: ProgressCallback | None = None) -> EvaluationOutcome | None:
    """Claim and run one evaluation to the end; None when another worker holds it or it is finished."""
    started = time.monotonic()
    evaluation = job_claim(EvaluationRun, job_id=evaluation_id)
    if evaluation is None:
        return None
    with log_context(run_id=f"evaluation-{evaluation.pk}"):
        try:
            return EvaluationOutcome(_execute(evaluation, on_progress), time.monotonic() - started)
        except (InvalidInputError, ProviderConfigError) as error:
            logger.warning("evaluation %s refused: %s", evaluation.pk, error)
            EvaluationRun.objects.filter(pk=evaluation.pk).update(
                status=JobStatus.FAILED, error_message=str(error), finished_at=timezone.now(), lease_expires_at=None
            )
            evaluation.refresh_from_db()
            return EvaluationOutcome(evaluation, time.monotonic() - started)


def _execute(evaluation: EvaluationRun, on_progress: ProgressCallback | None) -> EvaluationRun:
    config = evaluation_config_parse(evaluation.config)
    spending = _Spending(
        ledger=BudgetLedger(_remaining_budget(evaluation, config), clock=time.monotonic),
        journal=JobSpendJournal(evaluation),
    )
    metric = _metric_for(evaluation, config, spending)
    version = evaluation.version
    content = version.prompt_content()
    gateway = _gateway_for(evaluation, config, spending)
    total = Example.objects.filter(version=evaluation.dataset_version, split=evaluation.split).count()
    done = Prediction.objects.filter(evaluation=evaluation).count()
    logger.info("evaluation %s started: %s examples, %s already done", evaluation.pk, total, done)
    stopped_reason, cancelled = "", False
    # The same scorer as an optimization run's steps and final test: one path renders, calls and scores.
    scorer = Scorer(gateway=gateway, metric=metric, seed=config.seed)
    for chunk in _pending_examples(evaluation):
        examples = [
            EngineExample(
                id=example.pk,
                inputs=example.inputs,
                expected=example.expected_output,
                accepted_answers=tuple(example.accepted_answers),
                label=f"row {example.position}",
            )
            for example in chunk
        ]
        predictions = [
            Prediction(evaluation=evaluation, version=version, example_id=item.example_id, **prediction_fields(item))
            for item in scorer.score(content, examples)
            if not item.not_run
        ]
        # ignore_conflicts: a lapsed lease may let a second worker write the same chunk; keep one row. (The
        # chunk's spending is already on the row: the journal wrote it call by call.)
        Prediction.objects.bulk_create(predictions, ignore_conflicts=True)
        done += len(predictions)
        if on_progress is not None:
            on_progress(done, total)
        if not job_heartbeat(evaluation, progress=done / total if total else 1.0, message=f"{done} of {total}"):
            cancelled = True
            break
        if gateway.exhausted_reason:
            stopped_reason = gateway.exhausted_reason
            break
    return _finish(evaluation, total=total, seed=config.seed, stopped_reason=stopped_reason, cancelled=cancelled)
