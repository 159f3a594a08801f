"""Small data, a scripted task provider and an in-memory recorder for the engine's plain-Python tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from prompts.content import PromptContent
from workflows.engine.config import RunConfig
from workflows.engine.data import EngineExample, SearchData
from workflows.engine.loop import Engine, StepRecord
from workflows.engine.plan import search_plan
from workflows.engine.scoring import Scorer
from workflows.engine.state import EngineState, StepName, UsageState
from workflows.engine.strategies.base import OptimizerModel, Strategy
from workflows.engine.strategies.registry import strategies_build
from workflows.gateway.budget import Budget
from workflows.gateway.cache import InMemoryResponseCache
from workflows.gateway.gateway import Gateway
from workflows.gateway.types import Generation, GenerationRequest
from workflows.metrics import build_metric, parse_metric_config

# Test rows carry this marker in their inputs: it must never reach a provider or a strategy during a search.
TEST_MARKER = "HELD-OUT-ROW"


def review(index: int, *, split: str) -> EngineExample:
    positive = index % 2 == 0
    marker = f" {TEST_MARKER}" if split == "test" else ""
    word = "good" if positive else "bad"
    return EngineExample(
        id={"train": 0, "validation": 1000, "test": 2000}[split] + index,
        inputs={"text": f"{split} review {index}: a {word} film{marker}"},
        expected="positive" if positive else "negative",
    )


def search_data(train: int = 30, validation: int = 24) -> SearchData:
    return SearchData(
        train=tuple(review(i, split="train") for i in range(train)),
        validation=tuple(review(i, split="validation") for i in range(validation)),
        input_fields=("text",),
    )


def held_out(count: int = 20) -> tuple[EngineExample, ...]:
    return tuple(review(i, split="test") for i in range(count))


# Within the output bound of these one-word labels already, so the engine does not propose a trimmed copy of
# it (tests/engine/test_loop.py tests that proposal with a baseline that is not).
BASELINE = PromptContent(template="Classify the sentiment of this review: {{text}}", max_tokens=16, stop=("\n",))


class SentimentProvider:
    """Like the small embedded model: free text always says "positive"; constrained to labels, it is right.

    Records every rendered prompt it is sent, so tests can check what a search could see.
    """

    name = "local"
    model_name = "scripted-sentiment"
    scores_choices = True

    def __init__(self) -> None:
        self.calls = 0
        self.seen: list[str] = []

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        answers = []
        for request in requests:
            self.calls += 1
            text = request.prompt.completion_text
            self.seen.append(text)
            if request.prompt.choices:
                final_block = text.split("\n\n")[-1]  # demonstrations come before, in blocks of their own
                answers.append("positive" if "good" in final_block else "negative")
            else:
                answers.append("positive")
        return [Generation(text=answer, input_tokens=20, output_tokens=1) for answer in answers]


class MemoryRecorder:
    """Keeps every step record and a JSON copy of each checkpoint, as the database recorder would."""

    def __init__(self, *, crash_after: int | None = None) -> None:
        self.records: list[StepRecord] = []
        self.checkpoints: list[dict[str, object]] = []
        self.started: list[tuple[int, StepName]] = []
        self.crash_after = crash_after

    def step_started(self, iteration: int, step: StepName) -> None:
        self.started.append((iteration, step))

    def step_finished(self, record: StepRecord, state: EngineState) -> None:
        self.records.append(record)
        self.checkpoints.append(state.model_dump(mode="json"))
        if self.crash_after is not None and len(self.records) >= self.crash_after:
            raise WorkerKilled


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing after the last checkpoint survives."""


def build_engine(
    *,
    provider: SentimentProvider,
    recorder: MemoryRecorder,
    config: RunConfig | None = None,
    data: SearchData | None = None,
    strategies: Sequence[Strategy] | None = None,
    cache: InMemoryResponseCache | None = None,
    budget: Budget | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    optimizer: OptimizerModel | None = None,
    remaining_calls: Callable[[], int | None] | None = None,
) -> tuple[Engine, Gateway]:
    config = config or RunConfig(seed=1)
    gateway = Gateway(provider=provider, cache=cache if cache is not None else InMemoryResponseCache(), budget=budget)
    metric = build_metric(parse_metric_config(config.metric))
    scorer = Scorer(gateway=gateway, metric=metric, seed=config.seed, should_stop=should_stop)

    def usage() -> UsageState:
        spent = gateway.usage
        return UsageState(calls=spent.calls, cached_calls=spent.cached_calls)

    data = data or search_data()
    engine = Engine(
        data=data,
        config=config,
        # No test split here: the engine tests' budgets are the search's own.
        plan=search_plan(config, train_size=len(data.train), validation_size=len(data.validation), test_size=0),
        scorer=scorer,
        strategies=strategies
        if strategies is not None
        else strategies_build(config.strategies, optimizer_available=False, vertex=None),
        recorder=recorder,
        usage=usage,
        exhausted_reason=lambda: gateway.exhausted_reason,
        provider_scores_choices=True,
        optimizer=optimizer,
        remaining_calls=remaining_calls or (lambda: None),
    )
    return engine, gateway
