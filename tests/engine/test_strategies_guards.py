"""The checks every LLM-written proposal must pass."""

from __future__ import annotations

from tests.engine.test_strategies_support import sentiment_context
from workflows.engine.strategies.base import Observation
from workflows.engine.strategies.guards import (
    NewContents,
    keeps_placeholders,
    leaks_expected_outputs,
    without_placeholders,
)


def _shown(*expected: str) -> tuple[Observation, ...]:
    return tuple(Observation(inputs={"q": "?"}, expected=value, output="", score=0.0) for value in expected)


def test_it_flags_an_instruction_that_copies_an_expected_output():
    shown = _shown("William Shakespeare", "Jupiter")

    assert leaks_expected_outputs("If asked who wrote Hamlet, answer william  SHAKESPEARE.", shown, ())
    assert leaks_expected_outputs("The largest planet is Jupiter!", shown, ())
    assert not leaks_expected_outputs("Answer with the full name of the person or thing asked for.", shown, ())


def test_it_matches_whole_words_only():
    shown = _shown("positive feedback", "cat")

    assert not leaks_expected_outputs("Categorise the review.", shown, ())
    assert leaks_expected_outputs("Say cat when unsure.", shown, ())


def test_it_allows_naming_the_labels_of_a_label_set():
    shown = _shown("positive", "negative")
    instruction = "Answer with one of: positive, negative."

    assert not leaks_expected_outputs(instruction, shown, ("positive", "negative"))
    assert leaks_expected_outputs(instruction, shown, ())


def test_it_ignores_expected_outputs_of_one_or_two_characters():
    shown = _shown("4", "B", "no")

    assert not leaks_expected_outputs("Pick B if unsure; answer in 4 words or no words.", shown, ())


def test_it_allows_what_the_incumbent_already_said():
    shown = _shown("Paris")

    assert not leaks_expected_outputs(
        "Capitals such as Paris are single words.", shown, (), allowed_text="e.g. Paris is a capital"
    )
    assert leaks_expected_outputs("Capitals such as Paris are single words.", shown, ())


def test_it_accepts_a_template_only_if_every_placeholder_survives():
    original = "Review: {{text}}\nTitle: {{title}}"

    assert keeps_placeholders("Title {{ title }} — review {{text}}\nSentiment:", original, ("text", "title"))
    assert not keeps_placeholders("Review: {{text}}", original, ("text", "title"))
    assert not keeps_placeholders("{{text}} {{title}} {{author}}", original, ("text", "title"))
    assert not keeps_placeholders("{{text}} {{title}} {% if x %}", original, ("text", "title"))


def test_it_turns_placeholders_into_plain_names():
    assert without_placeholders("Classify the {{ text }} by {{author}}.") == "Classify the text by author."


def test_it_admits_no_content_that_could_not_be_saved_as_a_version():
    context = sentiment_context()
    admitted = NewContents(context)
    incumbent = context.incumbent

    placeholder_in_instruction = incumbent.edit(system_instruction="Label {{text}} as positive or negative.")
    control_character = incumbent.edit(demonstrations=(({"text": "fine\x00"}, "positive"),))
    fine = incumbent.edit(system_instruction="Label the review as positive or negative.")

    assert not admitted.admit(placeholder_in_instruction)
    assert not admitted.admit(control_character)
    assert admitted.admit(fine)
    assert not admitted.admit(fine)  # and each content only once
