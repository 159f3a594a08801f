"""The typed outputs of a run: its pre-run estimate, its progress while it works and its final report.

Pydantic models, so the CLI, the API (and its OpenAPI schema) and the web UI read one documented shape. The
estimate and the report are stored on the run as JSON and read back through these models; progress is
built from the run's columns, never from its checkpoint.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ScoreInterval(_Out):
    """A mean score with its bootstrap confidence interval over n examples."""

    mean: float
    low: float
    high: float
    n: int


class SearchPlanOut(_Out):
    """How the run spends its budget, decided before the first call (workflows/engine/plan.py)."""

    minibatch_size: int
    candidates_per_iteration: int
    survivors: int
    validation_rows: int = Field(description="Validation rows of a decision's first look.")
    iterations: int = Field(description="Full iterations the budget pays for (at most the configured number).")
    validation_looks: int = Field(description="Most looks of a close decision, each on twice the rows.")
    validation_max_rows: int
    test_reserve_calls: int = Field(description="Calls kept back for the final test.")
    baseline_validation_calls: int
    calls_per_iteration: int = Field(description="Planned task calls per iteration (decisions on the first look).")
    answer_naming_calls: int = Field(
        default=0, description="Task calls asking the task model to name the answer, once (0 for older runs)."
    )
    search_calls: int = Field(description="Planned task calls of the whole search.")
    budget_calls: int | None


class RunEstimateOut(_Out):
    """The most a run's config allows, before the start, assuming no cache hits, and the plan."""

    task_calls: int = Field(description="Search calls plus the final test of baseline and winner.")
    test_calls: int = Field(description="Calls kept back to score baseline and winner on the test split.")
    optimizer_calls: int
    calls: int = Field(description="Task and optimizer calls together.")
    tokens: int
    cost_usd: float | None = Field(description="None when no price is known for the task model.")
    capped_by_budget: bool = Field(description="True when max_calls is below what the config could use.")
    planned_task_calls: int | None = Field(
        default=None, description="Task calls the plan expects, final test included (None for older runs)."
    )
    plan: SearchPlanOut | None = Field(default=None, description="None for runs created before plans existed.")


class ReportBaseline(_Out):
    version: int
    validation: ScoreInterval | None
    test: ScoreInterval | None


class ReportWinner(ReportBaseline):
    improved: bool = Field(description="False when no candidate beat the baseline beyond noise.")
    strategy: str
    rationale: str
    content: dict[str, Any] = Field(description="The winning prompt's full content.")


class ReportPromptCost(_Out):
    """A prompt the search validated: its validation score and what it costs in prompt tokens per call."""

    key: str = Field(description="The candidate's content key (first 8 characters).")
    validation: ScoreInterval | None
    prompt_tokens: float | None = Field(
        description="Mean prompt tokens per call on the validation rows the best and the cheapest share, "
        "as the provider counted them; null when it did not count them."
    )
    content: dict[str, Any]


class TestDifference(ScoreInterval):
    """Winner minus baseline on the test split, paired by example."""

    wins: int
    losses: int
    ties: int
    mcnemar_p: float | None = Field(description="McNemar's exact p-value, for 0/1 metrics.")


class ReportUsage(_Out):
    calls: int
    cached_calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    seconds: float = 0.0
    retries: int = Field(default=0, description="Provider faults (429, 5xx, timeouts) absorbed by retrying.")
    failed_calls: int = Field(default=0, description="Calls that failed after their retries.")
    wall_seconds: float


class ReportAcceptance(_Out):
    iteration: int
    key: str
    strategy: str
    rationale: str
    validation_score: float
    gain: float
    gain_low: float
    gain_high: float


class RunReport(_Out):
    run: int
    stop_reason: str
    budget_exhausted: bool
    iterations: int
    accepted: list[ReportAcceptance]
    baseline: ReportBaseline
    winner: ReportWinner
    test_difference: TestDifference | None
    test_examples: int
    test_complete: bool
    test_budget_reason: str
    usage: ReportUsage
    estimate: RunEstimateOut | None
    diff: str = Field(description="A unified diff from the baseline's content to the winner's.")
    prefer: str = Field(default="best", description="best or shorter: how the winner was chosen.")
    best: ReportPromptCost | None = Field(default=None, description="The best prompt on validation.")
    cheapest_within_noise: ReportPromptCost | None = Field(
        default=None,
        description="The prompt with the fewest prompt tokens that is not significantly below the best and beat "
        "the baseline beyond noise; null when none is shorter than the best.",
    )


class RunUsage(_Out):
    calls: int
    cached_calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    retries: int = Field(default=0, description="Provider faults (429, 5xx, timeouts) absorbed by retrying.")
    failed_calls: int = Field(default=0, description="Calls that failed after their retries.")


class RunBudget(_Out):
    max_calls: int | None
    max_tokens: int | None
    max_cost_usd: float | None
    max_seconds: float | None


class RunProgress(_Out):
    """What a client polls while a run works: small, and read without the checkpoint."""

    status: str
    finished: bool
    progress: float = Field(description="Fraction done, 0 to 1.")
    message: str
    iteration: int | None = Field(description="The iteration in progress or last finished.")
    step: str | None = Field(description="The step of that iteration in progress or last finished.")
    step_status: str | None
    usage: RunUsage
    budget: RunBudget
    elapsed_seconds: float | None
    baseline_score: float | None
    best_score: float | None
    cancel_requested: bool
    error: str
    started_at: datetime | None
    finished_at: datetime | None
