"""The test split is out of reach of the search: no strategy, no proposal step and no model call sees it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from tests.engine.engine_support import BASELINE, TEST_MARKER, MemoryRecorder, SentimentProvider, build_engine
from workflows.engine.config import RunConfig
from workflows.engine.data import SearchData
from workflows.engine.loop import Engine
from workflows.engine.strategies.base import Proposal, ProposalContext, Strategy
from workflows.engine.strategies.critique import CritiqueStrategy
from workflows.engine.strategies.demos import DemoSearchStrategy
from workflows.engine.strategies.history import HistoryStrategy
from workflows.engine.strategies.mutations import MutationStrategy
from workflows.engine.strategies.vertex import VertexPromptOptimizerStrategy

VALIDATION_TEXT = "validation review"  # validation rows are scored, but their text is not shown to strategies


@dataclass
class RecordingOptimizer:
    """An optimizer model that always proposes a rewrite and keeps every prompt it was sent."""

    prompts: list[str] = field(default_factory=list)

    def complete(self, *, system: str, user: str, json_schema: object = None) -> str | None:
        self.prompts.append(system + "\n" + user)
        answer = {"diagnosis": "too vague", "instructions": [f"Say positive or negative. ({len(self.prompts)})"]}
        return json.dumps(answer)


@dataclass
class RecordingVertexPrompts:
    received: list[str] = field(default_factory=list)

    def optimize(self, *, prompt: str) -> object:
        self.received.append(prompt)
        suggestion = f"State the sentiment of the review. ({len(self.received)})"
        return SimpleNamespace(raw_text_response="{}", parsed_response=SimpleNamespace(suggested_prompt=suggestion))


class Spy:
    """Wraps a strategy and keeps every context it was given and every proposal it returned."""

    def __init__(self, inner: Strategy) -> None:
        self.inner = inner
        self.name = inner.name
        self.needs_optimizer = inner.needs_optimizer
        self.contexts: list[ProposalContext] = []
        self.proposals: list[Proposal] = []

    def propose(self, context: ProposalContext, count: int) -> list[Proposal]:
        self.contexts.append(context)
        proposals = self.inner.propose(context, count)
        self.proposals.extend(proposals)
        return proposals


def test_search_data_has_no_place_for_test_rows():
    assert set(SearchData.__dataclass_fields__) == {"train", "validation", "input_fields"}
    assert set(ProposalContext.__dataclass_fields__).isdisjoint({"test", "validation", "examples", "dataset"})


@pytest.mark.parametrize("seed", [1, 2])
def test_no_strategy_and_no_step_of_the_search_can_read_a_test_row(seed):
    optimizer = RecordingOptimizer()
    vertex_prompts = RecordingVertexPrompts()
    spies = [
        Spy(MutationStrategy()),
        Spy(DemoSearchStrategy()),
        Spy(CritiqueStrategy()),
        Spy(HistoryStrategy()),
        Spy(
            VertexPromptOptimizerStrategy(
                project="p", location="us-central1", client_factory=lambda: SimpleNamespace(prompts=vertex_prompts)
            )
        ),
    ]
    provider = SentimentProvider()
    recorder = MemoryRecorder()
    config = RunConfig(seed=seed, iterations=3, patience=5, candidates_per_iteration=10, survivors=3)
    engine, _gateway = build_engine(
        provider=provider, recorder=recorder, config=config, strategies=spies, optimizer=optimizer
    )
    state = engine.search(Engine.initial_state(BASELINE))

    assert all(spy.contexts for spy in spies), "every strategy was asked to propose"
    assert optimizer.prompts and vertex_prompts.received, "the model-based strategies were exercised"
    seen_by_strategies = [repr(context) for spy in spies for context in spy.contexts]
    seen_by_strategies += [repr(proposal) for spy in spies for proposal in spy.proposals]
    seen_by_strategies += optimizer.prompts + vertex_prompts.received
    for text in seen_by_strategies:
        assert TEST_MARKER not in text
        assert VALIDATION_TEXT not in text
    assert provider.seen and not any(TEST_MARKER in prompt for prompt in provider.seen)
    checkpoints = json.dumps(recorder.checkpoints)
    assert TEST_MARKER not in checkpoints
    assert TEST_MARKER not in json.dumps(state.model_dump(mode="json"))
