"""Writes for optimization and evaluation runs: creating (validated, enqueued on commit) and cancelling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from accounts.actors import Actor, ensure_can_write
from accounts.audit import audit_record
from accounts.models import AuditAction, Team
from promptopt.errors import ConflictError, InvalidInputError
from prompts.content import PromptContent
from prompts.models import DatasetVersion, Example, PromptVersion
from prompts.placeholders import template_variables
from prompts.rendering import RenderError, render
from prompts.splits import Split
from prompts.version_validation import validate_version_content
from workflows.engine.config import RunConfig, run_config_parse
from workflows.engine.estimate import RunEstimate, run_estimate
from workflows.engine.strategies.registry import strategies_build
from workflows.evaluation_config import evaluation_config_parse
from workflows.models import EvaluationRun, JobStatus, OptimizationRun
from workflows.provider_factory import model_prices, provider_build, task_model_for, vertex_settings

Job = TypeVar("Job", OptimizationRun, EvaluationRun)


def _job_cancel(job: Job, *, actor: Actor) -> tuple[Job, bool]:
    """A queued job is cancelled at once; a running one is asked to stop at its next checkpoint.

    The conditional updates make this safe against a worker claiming the job at the same moment:
    exactly one of "claim" and "cancel" wins the row.
    """
    ensure_can_write(actor, job.team)
    model = type(job)
    now = timezone.now()
    cancelled_queued = model.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.CANCELLED, cancel_requested_at=now, finished_at=now
    )
    flagged_running = 0
    if not cancelled_queued:
        flagged_running = model.objects.filter(
            pk=job.pk, status=JobStatus.RUNNING, cancel_requested_at__isnull=True
        ).update(cancel_requested_at=now)
        if not flagged_running:
            job.refresh_from_db()
            if job.cancel_requested_at is None or job.is_finished:
                raise ConflictError(f"{job} has already finished ({job.status}); nothing to cancel")
    job.refresh_from_db()
    return job, bool(cancelled_queued or flagged_running)


@transaction.atomic
def run_cancel(*, run: OptimizationRun, actor: Actor) -> OptimizationRun:
    run, changed = _job_cancel(run, actor=actor)
    if not changed:  # already asked to stop: a repeated cancel changes nothing and is not audited again
        return run
    audit_record(
        team=run.team,
        action=AuditAction.RUN_CANCEL,
        actor=actor,
        target=f"run {run.pk} ({run.prompt.slug})",
        details={"run": run.pk, "status": run.status},
    )
    return run


def run_abandon(*, run: OptimizationRun, reason: str) -> bool:
    """End a running run that no worker will finish (its foreground command was interrupted).

    Completed steps stay recorded; True when the run was still running and is now cancelled.
    """
    now = timezone.now()
    return bool(
        OptimizationRun.objects.filter(pk=run.pk, status=JobStatus.RUNNING).update(
            status=JobStatus.CANCELLED,
            cancel_requested_at=now,
            finished_at=now,
            lease_expires_at=None,
            error_message=reason,
        )
    )


@transaction.atomic
def evaluation_cancel(*, evaluation: EvaluationRun, actor: Actor) -> EvaluationRun:
    return _job_cancel(evaluation, actor=actor)[0]


def _enqueue_evaluation(evaluation_id: int) -> None:
    from django_q.tasks import async_task

    # Ids only: tasks are pickled and may be delivered twice; the claim makes a second delivery a no-op.
    async_task(
        "workflows.tasks.evaluation_run_task", evaluation_id, q_options={"task_name": f"evaluation-{evaluation_id}"}
    )


def _check_same_team(team: Team, version: PromptVersion, dataset_version: DatasetVersion) -> None:
    if version.prompt.team_id != team.pk or dataset_version.dataset.team_id != team.pk:
        raise InvalidInputError("the prompt version and the dataset version must belong to the team")


def _check_template_inputs(version: PromptVersion, dataset_version: DatasetVersion) -> None:
    missing = [name for name in template_variables(version.template) if name not in dataset_version.input_fields]
    if missing:
        raise InvalidInputError(
            f"template: {', '.join(repr(m) for m in missing)} not among the dataset's inputs "
            f"({', '.join(dataset_version.input_fields)})"
        )


def default_evaluation_metric(version: PromptVersion) -> dict[str, object]:
    """What an evaluation scores with when nobody says: the choice metric for a choice output, otherwise
    any accepted answer. The command, the API and the web UI all get it from here."""
    if version.output_choices:
        return {"name": "choice", "choices": list(version.output_choices)}
    return {"name": "any_answer"}


def evaluation_create(
    *,
    team: Team,
    version: PromptVersion,
    dataset_version: DatasetVersion,
    split: Split,
    config: dict[str, object],
    actor: Actor,
    enqueue: bool = True,
) -> EvaluationRun:
    """Validate everything an evaluation needs before any model call, then queue it (after commit).

    Validation and the provider probe (a network call for remote providers) happen before the write
    transaction opens. `enqueue=False` leaves it queued for a foreground runner (`evaluate`) to claim.
    """
    ensure_can_write(actor, team)
    _check_same_team(team, version, dataset_version)
    parsed = evaluation_config_parse({"metric": default_evaluation_metric(version), **config})
    provider_build(name=parsed.provider or version.provider, model=parsed.model or version.model_name, probe=True)
    _check_template_inputs(version, dataset_version)
    if not Example.objects.filter(version=dataset_version, split=split).exists():
        raise InvalidInputError(f"split: {dataset_version} has no {split} examples")
    evaluation = EvaluationRun(
        team=team,
        version=version,
        dataset_version=dataset_version,
        split=split,
        config=parsed.model_dump(mode="json"),
        created_by=actor.audit_user,
        created_by_api_key=actor.audit_api_key,
    )
    evaluation.full_clean()
    with transaction.atomic(durable=True):
        evaluation.save()
        if enqueue:
            transaction.on_commit(lambda: _enqueue_evaluation(evaluation.pk))
    return evaluation


def _check_baseline_content(version: PromptVersion) -> None:
    # A version saved before a rule existed may break it; every candidate derived from it would then be refused
    # (the search could only ever return the baseline), so the run is refused up front with the reason.
    errors = validate_version_content(version.content())
    if errors:
        problems = "; ".join(f"{field}: {messages[0]}" for field, messages in errors.items())
        raise InvalidInputError(f"{version} cannot be optimized as it is ({problems}); save a corrected version first")


def _enqueue_run(run_id: int) -> None:
    from django_q.tasks import async_task

    async_task("workflows.tasks.optimization_run_task", run_id, q_options={"task_name": f"optimization-run-{run_id}"})


# A run needs at least this many rows in each split: a minibatch and a paired comparison need two.
MINIMUM_ROWS = {Split.TRAIN: 2, Split.VALIDATION: 2, Split.TEST: 1}


def _split_sizes(dataset_version: DatasetVersion) -> dict[str, int]:
    counts = dict(
        Example.objects.filter(version=dataset_version).values_list("split").annotate(rows=Count("pk")).order_by()
    )
    return {split.value: counts.get(split.value, 0) for split in Split}


def _prompt_tokens_estimate(version: PromptVersion, dataset_version: DatasetVersion) -> int:
    """A rough token count of one rendered prompt (four characters a token), from the first train row."""
    example = Example.objects.filter(version=dataset_version, split=Split.TRAIN).order_by("position").first()
    if example is None:
        return 0
    try:
        rendered = render(PromptContent.from_dict(version.content()), example.inputs)
    except RenderError:
        return 0
    return max(1, len(rendered.completion_text) // 4)


@dataclass(frozen=True)
class RunPlan:
    """A run that passed every check: its parsed config and the estimate (with the search plan) shown before
    it is confirmed."""

    config: RunConfig
    estimate: RunEstimate


def run_plan(
    *, team: Team, version: PromptVersion, dataset_version: DatasetVersion, config: dict[str, object], actor: Actor
) -> RunPlan:
    """Everything `run_create` checks before it writes (config, providers reachable, strategies, data), and
    the estimate of calls, tokens and cost; nothing is written, so the web UI shows it before confirmation."""
    ensure_can_write(actor, team)
    _check_same_team(team, version, dataset_version)
    _check_baseline_content(version)
    parsed = run_config_parse(dict(config))
    task_provider, model_name = task_model_for(version, parsed)
    provider_build(name=task_provider, model=model_name, probe=True)
    if parsed.optimizer_provider:
        provider_build(name=parsed.optimizer_provider, model=parsed.optimizer_model or "", probe=True)
    strategies_build(
        parsed.strategies,
        optimizer_available=bool(parsed.optimizer_provider),
        vertex=vertex_settings(),
        max_demos=parsed.max_demos,
    )
    _check_template_inputs(version, dataset_version)
    sizes = _split_sizes(dataset_version)
    for split, minimum in MINIMUM_ROWS.items():
        if sizes[split] < minimum:
            raise InvalidInputError(
                f"dataset: {dataset_version} has {sizes[split]} {split} rows; an optimization run needs at least "
                f"{minimum}"
            )
    # The plan inside the estimate refuses a budget that cannot pay for one iteration of the search.
    estimate = run_estimate(
        parsed,
        train_size=sizes[Split.TRAIN],
        validation_size=sizes[Split.VALIDATION],
        test_size=sizes[Split.TEST],
        prompt_tokens=_prompt_tokens_estimate(version, dataset_version),
        price=model_prices().get(model_name),
    )
    return RunPlan(config=parsed, estimate=estimate)


def run_create(
    *,
    team: Team,
    version: PromptVersion,
    dataset_version: DatasetVersion,
    config: dict[str, object],
    actor: Actor,
    enqueue: bool = True,
) -> OptimizationRun:
    """Validate a run completely before any model call, estimate its cost, then queue it (after commit).

    Validation, the provider probes and the estimate (`run_plan`) happen before the write transaction opens.
    `enqueue=False` leaves it queued for a foreground runner (the `optimize` command) to claim.
    """
    plan = run_plan(team=team, version=version, dataset_version=dataset_version, config=config, actor=actor)
    run = OptimizationRun(
        team=team,
        prompt=version.prompt,
        baseline_version=version,
        dataset_version=dataset_version,
        config=plan.config.model_dump(mode="json"),
        estimate=plan.estimate.as_dict(),
        created_by=actor.audit_user,
        created_by_api_key=actor.audit_api_key,
    )
    run.full_clean()
    with transaction.atomic(durable=True):
        run.save()
        audit_record(
            team=team,
            action=AuditAction.RUN_START,
            actor=actor,
            target=(
                f"run {run.pk}: {version.prompt.slug} v{version.number} "
                f"on {dataset_version.dataset.slug} v{dataset_version.number}"
            ),
            details={
                "run": run.pk,
                "prompt": version.prompt.slug,
                "version": version.number,
                "dataset": dataset_version.dataset.slug,
                "dataset_version": dataset_version.number,
                "max_calls": plan.config.budget.max_calls,
            },
        )
        if enqueue:
            transaction.on_commit(lambda: _enqueue_run(run.pk))
    return run
