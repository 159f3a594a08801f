"""The Vertex AI Prompt Optimizer strategy, against a fake client shaped like `vertexai.Client`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from types import SimpleNamespace

from tests.engine.test_strategies_support import SENTIMENT_PROMPT, sentiment_context
from workflows.engine.strategies.vertex import VertexPromptOptimizerStrategy


@dataclass
class FakePrompts:
    """`client.prompts`: answers `optimize(prompt=...)` from a script of suggestions or exceptions."""

    script: list[object]
    received: list[str] = field(default_factory=list)

    def optimize(self, *, prompt: str) -> object:
        self.received.append(prompt)
        answer = self.script.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return SimpleNamespace(raw_text_response="{}", parsed_response=SimpleNamespace(suggested_prompt=answer))


def _strategy(*script: object) -> tuple[VertexPromptOptimizerStrategy, FakePrompts]:
    prompts = FakePrompts(list(script))
    strategy = VertexPromptOptimizerStrategy(
        project="demo-project", location="us-central1", client_factory=lambda: SimpleNamespace(prompts=prompts)
    )
    return strategy, prompts


def test_it_proposes_the_optimizers_rewrites_of_the_system_instruction_and_the_template():
    incumbent = SENTIMENT_PROMPT.edit(system_instruction="You judge reviews.")
    strategy, prompts = _strategy(
        "You are a film critic. Decide whether a review is positive or negative.",
        "Read the review below and state its sentiment.\nReview: {{text}}\nSentiment:",
    )

    proposals = strategy.propose(sentiment_context(incumbent=incumbent), 2)

    assert prompts.received == ["You judge reviews.", incumbent.template]
    assert proposals[0].content.system_instruction.startswith("You are a film critic.")
    assert proposals[0].content.template == incumbent.template
    assert proposals[1].content.template.endswith("Review: {{text}}\nSentiment:")
    assert proposals[1].content.system_instruction == "You judge reviews."
    assert [proposal.params["target"] for proposal in proposals] == ["system instruction", "template"]
    assert all("Vertex AI Prompt Optimizer" in proposal.rationale for proposal in proposals)


def test_it_moves_a_template_rewrite_that_lost_a_placeholder_into_the_system_instruction():
    strategy, _prompts = _strategy("Classify the sentiment of the review {text} as positive or negative.")

    (proposal,) = strategy.propose(sentiment_context(), 1)

    assert proposal.content.template == SENTIMENT_PROMPT.template
    assert proposal.content.system_instruction == "Classify the sentiment of the review {text} as positive or negative."


def test_it_logs_a_warning_and_proposes_nothing_when_the_service_fails(caplog):
    strategy, _prompts = _strategy(RuntimeError("503 Service Unavailable"))

    with caplog.at_level(logging.WARNING, logger="workflows.engine.strategies.vertex"):
        proposals = strategy.propose(sentiment_context(), 2)

    assert proposals == []
    assert "503 Service Unavailable" in caplog.text


def test_it_logs_a_warning_and_proposes_nothing_when_the_client_cannot_be_built(caplog):
    def broken_factory() -> object:
        raise PermissionError("no credentials")

    strategy = VertexPromptOptimizerStrategy(project="p", location="l", client_factory=broken_factory)

    with caplog.at_level(logging.WARNING, logger="workflows.engine.strategies.vertex"):
        proposals = strategy.propose(sentiment_context(), 1)

    assert proposals == []
    assert "PermissionError: no credentials" in caplog.text


def test_it_proposes_nothing_for_an_empty_suggestion_or_the_incumbent_itself():
    strategy, prompts = _strategy("   ", SENTIMENT_PROMPT.template)

    assert strategy.propose(sentiment_context(), 2) == []
    assert len(prompts.received) == 1  # the system instruction is empty, so only the template was sent
    assert strategy.propose(sentiment_context(), 2) == []


def test_it_builds_the_client_once_and_only_when_first_needed():
    built = []
    prompts = FakePrompts(["Be exact.", "Be brief."])

    def factory() -> object:
        built.append(1)
        return SimpleNamespace(prompts=prompts)

    strategy = VertexPromptOptimizerStrategy(project="p", location="l", client_factory=factory)
    assert built == []

    strategy.propose(sentiment_context(), 1)
    strategy.propose(sentiment_context(), 1)

    assert built == [1]
