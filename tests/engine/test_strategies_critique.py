"""The critique strategy: textual gradients from the incumbent's failures."""

from __future__ import annotations

import json
from dataclasses import replace

from tests.engine.test_strategies_support import (
    SENTIMENT_PROMPT,
    ScriptedOptimizer,
    open_answer_context,
    sentiment_context,
)
from workflows.engine.strategies.critique import (
    REWRITES_SCHEMA,
    CritiqueStrategy,
    content_with_instruction,
    rewrites_parse,
)


def _answer(*instructions: str, diagnosis: str = "It labels every review positive.") -> str:
    return json.dumps({"diagnosis": diagnosis, "instructions": list(instructions)})


def test_it_turns_each_rewritten_instruction_into_a_candidate():
    optimizer = ScriptedOptimizer(
        [_answer("Judge the tone of the whole review; criticism means negative.", "Look for complaints first.")]
    )

    proposals = CritiqueStrategy().propose(sentiment_context(optimizer=optimizer), 2)

    assert [proposal.content.system_instruction for proposal in proposals] == [
        "Judge the tone of the whole review; criticism means negative.",
        "Look for complaints first.",
    ]
    for proposal in proposals:
        assert proposal.content.template == SENTIMENT_PROMPT.template
        assert proposal.strategy == "critique"
        assert proposal.rationale.startswith("Critique of 2 failure(s): It labels every review positive.")
        assert proposal.params["target"] == "system instruction"


def test_it_shows_the_optimizer_the_prompt_and_the_failures():
    optimizer = ScriptedOptimizer([_answer("Be careful.")])

    CritiqueStrategy().propose(sentiment_context(optimizer=optimizer), 3)

    (request,) = optimizer.requests
    user = str(request["user"])
    assert request["json_schema"] == REWRITES_SCHEMA
    assert "Classify the sentiment of the review." in user
    assert "text: Dull, slow and far too long." in user
    assert "Model output: positive" in user
    assert "Expected output: negative" in user
    assert "Feedback: expected a different label" in user
    assert "{{text}}" in user
    assert "write 3 different improved instruction(s)" in user
    # Only failures are shown, never an example the incumbent got right.
    assert "A delight from start to finish." not in user


def test_it_tolerates_a_code_fence_around_the_json():
    fenced = "```json\n" + _answer("Weigh the final verdict of the review.") + "\n```"
    optimizer = ScriptedOptimizer([fenced])

    proposals = CritiqueStrategy().propose(sentiment_context(optimizer=optimizer), 1)

    assert [proposal.content.system_instruction for proposal in proposals] == ["Weigh the final verdict of the review."]


def test_it_proposes_nothing_for_a_malformed_or_missing_answer():
    answers = [
        None,
        "",
        "Sure! Here are some ideas: be careful.",
        '{"diagnosis": "x", "instructions": "not a list"}',
        '{"diagnosis": "x", "instructions": []}',
        '{"diagnosis": "x", "instructions": ["  "]}',
        '{"diagnosis": "x"',
        "[1, 2, 3]",
    ]
    for answer in answers:
        optimizer = ScriptedOptimizer([answer])
        assert CritiqueStrategy().propose(sentiment_context(optimizer=optimizer), 2) == [], answer
        assert len(optimizer.requests) == 1


def test_it_proposes_nothing_without_an_optimizer_or_without_failures():
    optimizer = ScriptedOptimizer([_answer("Be careful.")])
    context = sentiment_context(optimizer=optimizer)
    no_failures = replace(context, observations=context.observations[2:])

    assert CritiqueStrategy().propose(sentiment_context(optimizer=None), 2) == []
    assert CritiqueStrategy().propose(no_failures, 2) == []
    assert optimizer.requests == []


def test_it_drops_an_instruction_that_copies_an_expected_output():
    optimizer = ScriptedOptimizer(
        [_answer("If asked about Hamlet, answer William Shakespeare.", "Answer with the name only, no sentence.")]
    )

    proposals = CritiqueStrategy().propose(replace(open_answer_context(), optimizer=optimizer), 2)

    assert [proposal.content.system_instruction for proposal in proposals] == [
        "Answer with the name only, no sentence."
    ]


def test_it_replaces_the_template_only_when_every_placeholder_survives():
    optimizer = ScriptedOptimizer(
        [
            _answer(
                "Read the review and decide its sentiment.\nReview: {{text}}\nSentiment:",
                "Decide the sentiment of {{review}}.",
            )
        ]
    )

    proposals = CritiqueStrategy().propose(sentiment_context(optimizer=optimizer), 2)

    assert proposals[0].content.template == "Read the review and decide its sentiment.\nReview: {{text}}\nSentiment:"
    assert proposals[0].params["target"] == "template"
    # {{text}} was dropped (and {{review}} is no input): the wording becomes the system instruction instead.
    assert proposals[1].content.template == SENTIMENT_PROMPT.template
    assert proposals[1].content.system_instruction == "Decide the sentiment of review."
    assert proposals[1].params["target"] == "system instruction"


def test_it_never_proposes_the_incumbent_or_the_same_rewrite_twice():
    incumbent = SENTIMENT_PROMPT.edit(system_instruction="Be careful.")
    optimizer = ScriptedOptimizer([_answer("Be careful.", "Think about tone.", "Think about tone.")])

    proposals = CritiqueStrategy().propose(sentiment_context(incumbent=incumbent, optimizer=optimizer), 3)

    assert [proposal.content.system_instruction for proposal in proposals] == ["Think about tone."]


def test_it_parses_rewrites_with_pydantic():
    parsed = rewrites_parse('  {"instructions": [" a ", "", "b"], "extra": 1}  ')

    assert parsed is not None
    assert parsed.instructions == ["a", "b"]
    assert parsed.diagnosis == ""


def test_it_refuses_an_instruction_that_is_blank_or_runaway():
    assert content_with_instruction(SENTIMENT_PROMPT, "   ", ("text",)) is None
    assert content_with_instruction(SENTIMENT_PROMPT, "x" * 5_000, ("text",)) is None
