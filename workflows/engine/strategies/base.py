"""The one interface every strategy implements, and the context it proposes from (train data only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from prompts.content import Demonstration, PromptContent
from workflows.engine.data import EngineExample


@dataclass(frozen=True)
class Observation:
    """How the incumbent did on one minibatch (train) example: what the optimizer learns from."""

    inputs: Mapping[str, str]
    expected: str
    output: str
    score: float
    feedback: str = ""


@dataclass(frozen=True)
class HistoryEntry:
    """An earlier candidate and how it scored (validation when it got that far, else its minibatch score)."""

    content: PromptContent
    score: float
    strategy: str
    scored_on: str  # "validation" or "minibatch"
    params: Mapping[str, Any] = field(default_factory=dict)


class OptimizerModel(Protocol):
    """The model that writes prompts, configured apart from the task model; calls go through its gateway."""

    def complete(self, *, system: str, user: str, json_schema: Mapping[str, Any] | None = None) -> str | None:
        """The model's answer, or None when the call failed or a budget stopped it."""
        ...


@dataclass(frozen=True)
class ProposalContext:
    """Everything a strategy may read. Built from the train split and validation *scores* only: no strategy
    receives an example of the validation or test splits, so none can copy or fit to them."""

    incumbent: PromptContent
    incumbent_score: float  # on this iteration's minibatch
    observations: tuple[Observation, ...]  # the incumbent on this iteration's minibatch, worst first
    train: tuple[EngineExample, ...]
    history: tuple[HistoryEntry, ...]  # best first
    labels: tuple[str, ...]  # distinct train answers when they form a small label set, else ()
    input_fields: tuple[str, ...]
    bootstrapped_demos: tuple[Demonstration, ...]  # train inputs with model outputs that scored 1.0
    provider_scores_choices: bool  # the task provider picks a choice by log-probability
    iteration: int
    seed: int
    optimizer: OptimizerModel | None = None  # None: no optimizer model is configured
    # What the task model, shown train pairs, called the answer ("Opposite"): candidate answer-field names.
    answer_names: tuple[str, ...] = ()

    @property
    def failures(self) -> tuple[Observation, ...]:
        return tuple(observation for observation in self.observations if observation.score < 1.0)


@dataclass(frozen=True)
class Proposal:
    content: PromptContent
    strategy: str
    rationale: str  # one or two sentences; becomes the commit message if the candidate wins
    params: Mapping[str, Any] = field(default_factory=dict)  # what the strategy chose (for its own later rounds)


class Strategy(Protocol):
    name: ClassVar[str]
    needs_optimizer: ClassVar[bool]  # True: proposes nothing without an optimizer model

    def propose(self, context: ProposalContext, count: int) -> list[Proposal]:
        """Up to `count` new candidates; deterministic for a given context (its seed included)."""
        ...
