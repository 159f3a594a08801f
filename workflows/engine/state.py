"""The engine's checkpoint: everything needed to resume a search after the last completed step."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from prompts.content import PromptContent

StepName = Literal["primary_inference", "evaluation", "proposal", "refined_inference", "second_evaluation"]
STEP_ORDER: tuple[StepName, ...] = (
    "primary_inference",
    "evaluation",
    "proposal",
    "refined_inference",
    "second_evaluation",
)


class Scored(BaseModel):
    """One output of one prompt on one example; `score` is None when no output was produced."""

    example_id: int
    output: str = ""
    score: float | None = None
    feedback: str = ""
    error: str = ""
    cached: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: int = 0
    # A budget stopped the work before the call was sent: nothing to record, and a resumed job does it then.
    not_run: bool = False


class CandidateState(BaseModel):
    """A prompt the search knows about, with what it has been scored on so far."""

    content: dict[str, Any]
    key: str
    strategy: str = "baseline"
    rationale: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    minibatch_score: float | None = None
    validation: dict[int, float | None] = Field(default_factory=dict)  # example id -> score
    validation_score: float | None = None
    # Prompt tokens of each validation call, as the provider counted them (example id -> tokens): what the
    # prompt costs per call, compared between candidates on the rows both were scored on (shorter.py).
    validation_tokens: dict[int, int] = Field(default_factory=dict)

    @classmethod
    def of(cls, content: PromptContent, **fields: Any) -> CandidateState:
        return cls(content=content.to_dict(), key=content.key, **fields)

    def prompt(self) -> PromptContent:
        return PromptContent.from_dict(self.content)


class UsageState(BaseModel):
    """Totals across every gateway of the run and every attempt, so budgets survive a worker restart."""

    calls: int = 0
    cached_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    # Provider faults the gateway absorbed (retries) and calls that failed after them (failed_calls).
    retries: int = 0
    failed_calls: int = 0


class Acceptance(BaseModel):
    iteration: int
    key: str
    strategy: str
    rationale: str
    validation_score: float
    gain: float
    gain_low: float
    gain_high: float


class EngineState(BaseModel):
    """Written after every step in the same transaction as the step's rows; a resumed run starts from here."""

    iteration: int = 0  # the iteration in progress (1-based); 0 before the first
    completed_step: StepName | None = None  # the last finished step of `iteration`
    baseline: CandidateState
    incumbent: CandidateState
    beam: list[CandidateState] = Field(default_factory=list)  # best validated candidates, best first
    history: list[CandidateState] = Field(default_factory=list)  # every candidate tried, for strategies
    minibatch_ids: list[int] = Field(default_factory=list)
    incumbent_outputs: list[Scored] = Field(default_factory=list)  # step 1 output (the parent's), scored in step 2
    # The prompt this iteration proposes from (pareto.py); "" or the incumbent's key: the incumbent. The step-1
    # outputs below are this prompt's.
    parent_key: str = ""
    # This iteration's search shape when the calls left paid only for a leaner one than planned (plan.py's
    # remainder_shape); None: the plan's.
    shape: dict[str, int] | None = None
    proposals: list[CandidateState] = Field(default_factory=list)  # this iteration's candidates
    survivors: list[str] = Field(default_factory=list)  # keys of proposals that go to validation
    bootstrapped_demos: list[dict[str, Any]] = Field(default_factory=list)  # {"example_id", "output"}
    # What the task model called the answer when shown train pairs (answer_names.py); None: not asked yet.
    # Kept so a resumed run proposes from the same names without asking (and paying) again.
    answer_names: list[str] | None = None
    iterations_without_improvement: int = 0
    acceptances: list[Acceptance] = Field(default_factory=list)
    stop_reason: str = ""
    budget_exhausted: bool = False
    usage: UsageState = Field(default_factory=UsageState)
    # The baseline's validation rows are scored as written (Engine.validated). Checkpoints written before that
    # rule lack the field: their baseline rows were scored within the output bound, and their runs finish so.
    baseline_as_written: bool = False

    def next_step(self) -> tuple[int, StepName]:
        """The iteration and step to run next."""
        if self.completed_step is None:
            return max(self.iteration, 1), STEP_ORDER[0]
        position = STEP_ORDER.index(self.completed_step)
        if position + 1 < len(STEP_ORDER):
            return self.iteration, STEP_ORDER[position + 1]
        return self.iteration + 1, STEP_ORDER[0]
