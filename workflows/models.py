"""Optimization runs and their iterations, steps, candidates and predictions; evaluation runs; the call cache;
playground calls."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from prompts.splits import SPLIT_CHOICES, Split


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    # Finished, but some items could not be produced (a provider failing mid-way, a budget reached):
    # what was completed is kept and scored, and error_message says what is missing and why.
    PARTIAL = "partial", "Partly done"
    # An optimization run that stopped because a budget (calls, tokens, cost, time) ran out: its best prompt so
    # far was still tested and saved, within the share of the budget kept back for the test split.
    BUDGET_EXHAUSTED = "budget_exhausted", "Budget exhausted"


FINISHED_STATUSES = (
    JobStatus.SUCCEEDED,
    JobStatus.FAILED,
    JobStatus.CANCELLED,
    JobStatus.PARTIAL,
    JobStatus.BUDGET_EXHAUSTED,
)


class StepStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class StepKind(models.TextChoices):
    """The five steps of every iteration, in the order they run."""

    PRIMARY_INFERENCE = "primary_inference", "Primary inference"
    EVALUATION = "evaluation", "Evaluation"
    PROPOSAL = "proposal", "Optimizer proposals"
    REFINED_INFERENCE = "refined_inference", "Refined inference"
    SECOND_EVALUATION = "second_evaluation", "Second evaluation"


class BackgroundJob(models.Model):
    """Lifecycle shared by optimization and evaluation runs: queued → running → finished, with a lease.

    The status column, not the task queue, is the source of truth: a worker claims a job with a
    conditional update on status and holds it by renewing `lease_expires_at`; a job whose lease
    lapsed belonged to a dead worker and may be claimed again, up to its attempt limit.
    """

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    progress = models.FloatField(default=0.0, help_text="Fraction done, 0 to 1.")
    progress_message = models.CharField(max_length=200, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    calls = models.PositiveIntegerField(default=0, help_text="Provider calls made (not answered by the cache).")
    cached_calls = models.PositiveIntegerField(default=0)
    retries = models.PositiveIntegerField(default=0, help_text="Provider faults absorbed by retrying the call.")
    failed_calls = models.PositiveIntegerField(default=0, help_text="Calls that failed after their retries.")
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    error_message = models.TextField(blank=True)

    TEAM_PATHS = ("team",)

    class Meta:
        abstract = True

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


def _job_constraints(prefix: str) -> list[models.BaseConstraint]:
    return [
        models.CheckConstraint(condition=Q(status__in=JobStatus.values), name=f"{prefix}_status_valid"),
        models.CheckConstraint(condition=Q(progress__gte=0.0, progress__lte=1.0), name=f"{prefix}_progress_range"),
        models.CheckConstraint(condition=Q(cost_usd__gte=0), name=f"{prefix}_cost_not_negative"),
    ]


class OptimizationRun(BackgroundJob):
    prompt = models.ForeignKey("prompts.Prompt", on_delete=models.CASCADE, related_name="optimization_runs")
    baseline_version = models.ForeignKey("prompts.PromptVersion", on_delete=models.CASCADE, related_name="+")
    dataset_version = models.ForeignKey(
        "prompts.DatasetVersion", on_delete=models.CASCADE, related_name="optimization_runs"
    )
    config = models.JSONField(default=dict, help_text="Validated run configuration (strategy, metric, budgets).")
    # The version this run produced, when it found one that beat the baseline beyond noise.
    best_version = models.ForeignKey(
        "prompts.PromptVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    baseline_score = models.FloatField(null=True, blank=True, help_text="Baseline on the validation split.")
    best_score = models.FloatField(null=True, blank=True, help_text="Best version on the validation split.")
    baseline_test_score = models.FloatField(null=True, blank=True)
    best_test_score = models.FloatField(null=True, blank=True)
    estimate = models.JSONField(default=dict, blank=True, help_text="Most calls, tokens and cost, before the start.")
    # The engine's state after its last completed step: a restarted worker resumes from here.
    checkpoint = models.JSONField(null=True, blank=True)
    stop_reason = models.CharField(max_length=200, blank=True, help_text="Why the search stopped.")
    report = models.JSONField(default=dict, blank=True, help_text="Scores, intervals, usage and the prompt diff.")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = _job_constraints("optimization_run")
        indexes = [models.Index(fields=["status", "lease_expires_at"], name="optimization_run_claim")]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.prompt.name} ({self.status})"


class Iteration(models.Model):
    run = models.ForeignKey(OptimizationRun, on_delete=models.CASCADE, related_name="iterations")
    index = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=StepStatus.choices, default=StepStatus.PENDING)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    TEAM_PATHS = ("run__team",)

    class Meta:
        ordering = ["run", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "index"], name="iteration_index_unique"),
            models.CheckConstraint(condition=Q(status__in=StepStatus.values), name="iteration_status_valid"),
        ]

    def __str__(self) -> str:
        return f"Run {self.run_id} iteration {self.index}"


class IterationStep(models.Model):
    """One of the five steps of an iteration; a step's completion is the run's checkpoint."""

    iteration = models.ForeignKey(Iteration, on_delete=models.CASCADE, related_name="steps")
    kind = models.CharField(max_length=20, choices=StepKind.choices)
    status = models.CharField(max_length=10, choices=StepStatus.choices, default=StepStatus.PENDING)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True, help_text="What the step found, e.g. scores, counts.")

    TEAM_PATHS = ("iteration__run__team",)

    class Meta:
        ordering = ["iteration", "id"]
        constraints = [
            models.UniqueConstraint(fields=["iteration", "kind"], name="iteration_step_kind_unique"),
            models.CheckConstraint(condition=Q(kind__in=StepKind.values), name="iteration_step_kind_valid"),
            models.CheckConstraint(condition=Q(status__in=StepStatus.values), name="iteration_step_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.iteration}: {self.get_kind_display()}"


class Candidate(models.Model):
    """A prompt the optimizer proposed; it becomes a version only if accepted."""

    iteration = models.ForeignKey(Iteration, on_delete=models.CASCADE, related_name="candidates")
    key = models.CharField(max_length=32, help_text="Content hash: the same prompt has the same key everywhere.")
    content = models.JSONField(help_text="Proposed version content (instruction, template, demonstrations…).")
    params = models.JSONField(default=dict, blank=True, help_text="What the strategy chose, e.g. a demo set.")
    version = models.ForeignKey(
        "prompts.PromptVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    strategy = models.CharField(max_length=50, blank=True)
    rationale = models.TextField(blank=True, help_text="Why the optimizer proposed it.")
    minibatch_score = models.FloatField(null=True, blank=True)
    validation_score = models.FloatField(null=True, blank=True)
    accepted = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    TEAM_PATHS = ("iteration__run__team",)

    class Meta:
        ordering = ["iteration", "id"]
        constraints = [models.UniqueConstraint(fields=["iteration", "key"], name="candidate_key_unique_in_iteration")]

    def __str__(self) -> str:
        return f"Candidate {self.pk} ({'accepted' if self.accepted else 'rejected'})"


class EvaluationRun(BackgroundJob):
    """Scores one prompt version on one split of one dataset version."""

    version = models.ForeignKey("prompts.PromptVersion", on_delete=models.CASCADE, related_name="+")
    dataset_version = models.ForeignKey("prompts.DatasetVersion", on_delete=models.CASCADE, related_name="+")
    split = models.CharField(max_length=10, choices=SPLIT_CHOICES)
    config = models.JSONField(default=dict, help_text="Validated metric and provider configuration.")
    # Set on the two test-split evaluations (baseline and winner) an optimization run ends with.
    optimization_run = models.ForeignKey(
        OptimizationRun, null=True, blank=True, on_delete=models.CASCADE, related_name="test_evaluations"
    )
    example_count = models.PositiveIntegerField(default=0)
    scored_count = models.PositiveIntegerField(default=0, help_text="Examples with a score (not failed).")
    score = models.FloatField(null=True, blank=True)
    score_ci_low = models.FloatField(null=True, blank=True)
    score_ci_high = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            *_job_constraints("evaluation_run"),
            models.CheckConstraint(condition=Q(split__in=[s.value for s in Split]), name="evaluation_split_valid"),
        ]
        indexes = [models.Index(fields=["status", "lease_expires_at"], name="evaluation_run_claim")]

    def __str__(self) -> str:
        return f"Evaluation {self.pk} of {self.version} on {self.split} ({self.status})"


class Prediction(models.Model):
    """One model output for one example, with its score; written once per (owner, subject, example)."""

    step = models.ForeignKey(IterationStep, null=True, blank=True, on_delete=models.CASCADE, related_name="predictions")
    evaluation = models.ForeignKey(
        EvaluationRun, null=True, blank=True, on_delete=models.CASCADE, related_name="predictions"
    )
    version = models.ForeignKey(
        "prompts.PromptVersion", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    candidate = models.ForeignKey(
        Candidate, null=True, blank=True, on_delete=models.CASCADE, related_name="predictions"
    )
    example = models.ForeignKey("prompts.Example", on_delete=models.CASCADE, related_name="+")
    output = models.TextField(blank=True)
    score = models.FloatField(null=True, blank=True, help_text="Empty when the call failed.")
    feedback = models.TextField(blank=True, help_text="What the metric found wrong, for the optimizer.")
    error = models.TextField(blank=True, help_text="Why no output was produced, if the call failed.")
    latency_ms = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cached = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    # A prediction belongs to a run's step or to an evaluation, so its team is reached either way.
    TEAM_PATHS = ("step__iteration__run__team", "evaluation__team")

    class Meta:
        ordering = ["id"]
        constraints = [
            # A prediction belongs to exactly one owner: an iteration step or an evaluation run…
            models.CheckConstraint(
                condition=Q(step__isnull=False, evaluation__isnull=True)
                | Q(step__isnull=True, evaluation__isnull=False),
                name="prediction_one_owner",
            ),
            # …and scores exactly one prompt: a saved version or a not-yet-accepted candidate.
            models.CheckConstraint(
                condition=Q(version__isnull=False, candidate__isnull=True)
                | Q(version__isnull=True, candidate__isnull=False),
                name="prediction_one_subject",
            ),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__gte=0.0, score__lte=1.0), name="prediction_score_range"
            ),
            # Re-running a step after a crash must not double-count an example.
            models.UniqueConstraint(
                fields=["step", "version", "example"],
                name="prediction_unique_version_in_step",
                condition=Q(step__isnull=False, version__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["step", "candidate", "example"],
                name="prediction_unique_candidate_in_step",
                condition=Q(step__isnull=False, candidate__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["evaluation", "example"],
                name="prediction_unique_in_evaluation",
                condition=Q(evaluation__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"Prediction {self.pk} (score {self.score})"


class LLMCallCache(models.Model):
    """Provider responses by content address: hash of provider, model, parameters and rendered messages."""

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=64)
    provider = models.CharField(max_length=16)
    model_name = models.CharField(max_length=200)
    response = models.JSONField(help_text="Output text and whatever else the provider returned (log-probs…).")
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    TEAM_PATHS = ("team",)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["team", "key"], name="llm_call_cache_key_unique_per_team")]
        verbose_name = "LLM call cache entry"
        verbose_name_plural = "LLM call cache"

    def __str__(self) -> str:
        return f"{self.provider}/{self.model_name} {self.key[:12]}"


class PlaygroundCall(models.Model):
    """One call made from the web UI's playground: what it spent counts in the team's usage, like a run's."""

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey("prompts.PromptVersion", on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    provider = models.CharField(max_length=16)
    model_name = models.CharField(max_length=200)
    cached = models.BooleanField(default=False, help_text="Answered by the team's call cache: no provider call.")
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    TEAM_PATHS = ("team",)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["team", "created_at"], name="playground_call_team_time")]
        constraints = [models.CheckConstraint(condition=Q(cost_usd__gte=0), name="playground_call_cost_not_negative")]

    def __str__(self) -> str:
        return f"Playground call {self.pk} ({self.provider}/{self.model_name})"


class IdempotencyRecord(models.Model):
    """The answer to a creation request sent with an `Idempotency-Key`: a retry gets the same answer, and the
    run or evaluation is created once. Kept for a day; `status_code` 0 means the first request is still going."""

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+")
    actor = models.CharField(max_length=64, help_text="Who sent it, e.g. user:3 or key:7: keys are per actor.")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="Hash of method, path and body of the first request.")
    status_code = models.PositiveSmallIntegerField(default=0)
    response = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    TEAM_PATHS = ("team",)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["actor", "key"], name="idempotency_key_unique_per_actor")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_record_age")]

    def __str__(self) -> str:
        return f"{self.actor} {self.key} → {self.status_code or 'pending'}"
