"""The history strategy: OPRO-style rewrites from earlier instructions and their scores."""

from __future__ import annotations

import json
from dataclasses import replace

from tests.engine.test_strategies_support import (
    SENTIMENT_PROMPT,
    ScriptedOptimizer,
    open_answer_context,
    sentiment_context,
)
from workflows.engine.strategies.base import HistoryEntry
from workflows.engine.strategies.history import HistoryStrategy


def _history() -> tuple[HistoryEntry, ...]:
    # Best first, as the engine builds it.
    return (
        HistoryEntry(SENTIMENT_PROMPT.edit(system_instruction="Focus on the verdict."), 0.8, "critique", "validation"),
        HistoryEntry(SENTIMENT_PROMPT.edit(system_instruction="Be terse."), 0.6, "mutations", "minibatch"),
        HistoryEntry(
            SENTIMENT_PROMPT.edit(system_instruction="Focus on the verdict.", layout="completion"),
            0.3,
            "demos",
            "minibatch",
        ),
    )


def test_it_shows_earlier_instructions_worst_first_with_their_best_scores():
    optimizer = ScriptedOptimizer([None])

    HistoryStrategy().propose(sentiment_context(optimizer=optimizer, history=_history()), 2)

    user = str(optimizer.requests[0]["user"])
    # The incumbent (0.50 on the minibatch) is among them; the verdict instruction appears once, at its best.
    positions = [user.index(text) for text in ("Score: 0.50", "Be terse.", "Focus on the verdict.")]
    assert positions == sorted(positions)
    assert user.count("Focus on the verdict.") == 1
    assert user.index("Score: 0.80") > user.index("Focus on the verdict.")
    assert "Score: 0.30" not in user
    assert "Write 2 new instruction(s)" in user
    assert "{{text}}" in user


def test_it_proposes_the_new_instructions_and_names_its_source():
    answer = json.dumps(
        {"instructions": ["Decide from the reviewer's overall recommendation.", "Ignore plot details."]}
    )
    optimizer = ScriptedOptimizer([answer])

    proposals = HistoryStrategy().propose(sentiment_context(optimizer=optimizer, history=_history()), 2)

    assert [proposal.content.system_instruction for proposal in proposals] == [
        "Decide from the reviewer's overall recommendation.",
        "Ignore plot details.",
    ]
    assert all(proposal.strategy == "history" for proposal in proposals)
    assert proposals[0].rationale.startswith("Written from 3 earlier instruction(s) and their scores (best 0.80).")


def test_it_shows_the_same_examples_for_the_same_seed():
    requests = []
    for seed in (4, 4, 5):
        optimizer = ScriptedOptimizer([None])
        HistoryStrategy().propose(replace(open_answer_context(seed=seed), optimizer=optimizer), 1)
        requests.append(optimizer.requests[0]["user"])

    assert requests[0] == requests[1]
    assert requests[0] != requests[2]


def test_it_drops_an_instruction_that_copies_an_example_answer():
    context = open_answer_context()
    probe = ScriptedOptimizer([None])
    HistoryStrategy().propose(replace(context, optimizer=probe), 2)
    shown = [
        observation.expected
        for observation in context.observations
        if f"Expected output: {observation.expected}" in str(probe.requests[0]["user"])
    ]
    leaking = f"The answer to such questions is usually {shown[0]} or similar."
    optimizer = ScriptedOptimizer([json.dumps({"instructions": [leaking, "Answer with a short noun phrase."]})])

    proposals = HistoryStrategy().propose(replace(context, optimizer=optimizer), 2)

    assert len(shown) == 3
    assert [proposal.content.system_instruction for proposal in proposals] == ["Answer with a short noun phrase."]


def test_it_proposes_nothing_for_a_bad_answer_or_without_an_optimizer():
    assert HistoryStrategy().propose(sentiment_context(optimizer=None), 2) == []
    for answer in (None, "not json", '{"instructions": []}', "```json\n{}\n```"):
        assert HistoryStrategy().propose(sentiment_context(optimizer=ScriptedOptimizer([answer])), 2) == []
