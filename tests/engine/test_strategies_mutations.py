"""The mutation strategy and its edit operators."""

from __future__ import annotations

import random
from dataclasses import replace

from prompts.content import PromptContent
from prompts.rendering import render
from tests.engine.test_strategies_support import SENTIMENT_PROMPT, open_answer_context, sentiment_context
from workflows.engine.strategies.base import HistoryEntry
from workflows.engine.strategies.mutations import (
    ANSWER_ONLY,
    STEP_BY_STEP,
    MutationStrategy,
    add_demos_operator,
    add_step_by_step,
    answer_only,
    constrain_to_labels,
    drop_demo,
    instruction_phrases,
    name_fields,
    remove_step_by_step,
    reorder_demos,
    shorten_instruction,
    state_labels,
    use_completion_layout,
)


def test_it_proposes_the_same_candidates_for_the_same_seed():
    first = MutationStrategy().propose(sentiment_context(seed=11), 6)
    second = MutationStrategy().propose(sentiment_context(seed=11), 6)

    assert [proposal.content.key for proposal in first] == [proposal.content.key for proposal in second]
    assert [proposal.rationale for proposal in first] == [proposal.rationale for proposal in second]


def test_it_proposes_other_candidates_for_another_seed():
    keys_by_seed = {
        seed: [proposal.content.key for proposal in MutationStrategy().propose(sentiment_context(seed=seed), 8)]
        for seed in (1, 2, 3)
    }

    assert len({tuple(keys) for keys in keys_by_seed.values()}) > 1


def test_it_never_proposes_the_incumbent_a_duplicate_or_an_earlier_candidate():
    earlier = SENTIMENT_PROMPT.edit(system_instruction=ANSWER_ONLY, max_tokens=16)
    context = sentiment_context(history=(HistoryEntry(earlier, 0.6, "mutations", "validation"),))

    proposals = MutationStrategy().propose(context, 12)
    keys = [proposal.content.key for proposal in proposals]

    assert len(proposals) == 12
    assert len(set(keys)) == len(keys)
    assert SENTIMENT_PROMPT.key not in keys
    assert earlier.key not in keys


def test_it_proposes_completion_layout_labels_and_demonstrations_together_first():

    first, second = MutationStrategy().propose(sentiment_context(), 3)[:2]

    assert first.params["operators"] == ["use_completion_layout", "constrain_to_labels", "add_demos"]
    assert second.params["operators"] == ["use_completion_layout", "name_fields", "add_demos"]
    assert first.content.layout == "completion"
    assert first.content.output_type == "choice"
    assert set(first.content.output_choices) == {"positive", "negative"}
    assert {output for _inputs, output in first.content.demonstrations} == {"positive", "negative"}
    assert "completion layout" in first.rationale
    assert "log-probability" in first.rationale


def test_it_renders_the_composed_completion_candidate_with_a_cue_after_each_block():
    first = MutationStrategy().propose(sentiment_context(), 1)[0]

    rendered = render(first.content, {"text": "Loved it."})

    assert rendered.completion_text.startswith("Classify the sentiment of the review.\n\nReview: ")
    assert rendered.completion_text.endswith("Review: Loved it.\nOutput:")
    for inputs, output in first.content.demonstrations:
        assert f"Review: {inputs['text']}\nOutput: {output}" in rendered.completion_text
    assert set(rendered.choices) == {"positive", "negative"}


def test_it_keeps_a_template_cue_when_switching_to_completion():
    content = SENTIMENT_PROMPT.edit(template="Review: {{text}}\nSentiment:")

    switched = use_completion_layout(content, sentiment_context(incumbent=content), random.Random(0))

    assert switched is not None
    assert render(switched, {"text": "Great."}).completion_text == "Review: Great.\nSentiment:"


def test_it_names_the_answer_field_after_the_instruction_rather_than_generically():
    content = SENTIMENT_PROMPT.edit(layout="completion")  # "Classify the sentiment of the review.\nReview: {{text}}"
    context = sentiment_context(incumbent=content)

    named = {name_fields(content, context, random.Random(seed)).template for seed in range(40)}

    assert "Classify the sentiment of the review.\nText: {{text}}\nSentiment:" in named
    assert not any(template.endswith(("\nAnswer:", "\nOutput:")) for template in named)
    for template in named:
        instruction, input_line, cue = template.split("\n")
        assert instruction == "Classify the sentiment of the review."
        assert input_line.endswith(": {{text}}") and cue.endswith(":")
        assert input_line.split(":")[0] != cue[:-1]
    rendered = render(content.edit(template="Review: {{text}}\nSentiment:"), {"text": "Fine."})
    assert rendered.completion_text.endswith("Review: Fine.\nSentiment:")


def test_it_names_the_answer_field_generically_when_nothing_says_what_the_answer_is():
    content = PromptContent(layout="completion", template="Input: {{text}}\nOutput:")
    context = sentiment_context(incumbent=content)

    named = {name_fields(content, context, random.Random(seed)).template for seed in range(40)}

    assert "Input: {{text}}\nAnswer:" in named
    assert "Question: {{text}}\nOutput:" in named


def test_it_names_the_answer_field_as_the_task_model_called_the_answer():
    content = PromptContent(layout="completion", template="Input: {{text}}\nOutput:")
    context = replace(sentiment_context(incumbent=content), answer_names=("Opposite",))

    named = {name_fields(content, context, random.Random(seed)).template for seed in range(40)}

    assert named == {"Input: {{text}}\nOpposite:", "Question: {{text}}\nOpposite:", "Text: {{text}}\nOpposite:"}
    # Once a candidate has tried that name, the generic names get their turn too.
    earlier = HistoryEntry(content.edit(template="Text: {{text}}\nOpposite:"), 0.0, "mutations", "minibatch")
    later = replace(context, history=(earlier,))
    named_later = {name_fields(content, later, random.Random(seed)).template for seed in range(40)}
    assert "Input: {{text}}\nAnswer:" in named_later


def test_each_priority_recipe_gets_a_turn_before_one_comes_back():
    first = MutationStrategy().propose(sentiment_context(), 1)[0]
    earlier = HistoryEntry(first.content, 0.0, "mutations", "minibatch", params=first.params)

    second = MutationStrategy().propose(sentiment_context(iteration=2, seed=8, history=(earlier,)), 1)[0]

    assert first.params["operators"] == ["use_completion_layout", "constrain_to_labels", "add_demos"]
    assert second.params["operators"] == ["use_completion_layout", "name_fields", "add_demos"]


def test_it_names_fields_only_in_a_completion_template_with_one_input_line():
    two_inputs = SENTIMENT_PROMPT.edit(layout="completion", template="Title: {{title}}\nReview: {{text}}")
    inline = SENTIMENT_PROMPT.edit(layout="completion", template="Is {{text}} positive?")

    assert name_fields(SENTIMENT_PROMPT, sentiment_context(), random.Random(0)) is None  # chat layout
    assert name_fields(two_inputs, sentiment_context(incumbent=two_inputs), random.Random(0)) is None
    assert name_fields(inline, sentiment_context(incumbent=inline), random.Random(0)) is None


def test_it_takes_field_names_from_the_instructions_noun_phrases():
    assert instruction_phrases("Write a word that means the opposite of the input word.") == ["Opposite", "Input word"]
    assert instruction_phrases("Extract the first letter of the input word.") == ["First letter", "Input word"]
    assert instruction_phrases("Answer yes or no.") == []


def test_it_constrains_to_labels_only_when_the_train_answers_form_a_label_set():
    rng = random.Random(0)
    with_labels = sentiment_context()
    without_labels = open_answer_context()

    constrained = constrain_to_labels(SENTIMENT_PROMPT, with_labels, rng)

    assert constrained is not None
    assert constrained.output_type == "choice"
    assert constrained.output_choices == with_labels.labels
    assert constrain_to_labels(without_labels.incumbent, without_labels, rng) is None
    assert state_labels(without_labels.incumbent, without_labels, rng) is None
    for proposal in MutationStrategy().propose(without_labels, 10):
        assert proposal.content.output_type == "text"


def test_it_states_the_labels_in_the_system_instruction_once():
    context = sentiment_context()

    stated = state_labels(SENTIMENT_PROMPT, context, random.Random(0))

    assert stated is not None
    assert stated.system_instruction == f"Answer with one of: {', '.join(context.labels)}."
    assert set(context.labels) == {"positive", "negative"}
    assert state_labels(stated, context, random.Random(0)) is None


def test_it_asks_for_the_bare_answer_and_caps_tokens_when_answers_are_short():
    edited = answer_only(SENTIMENT_PROMPT, sentiment_context(), random.Random(0))

    assert edited is not None
    assert edited.system_instruction == ANSWER_ONLY
    assert edited.max_tokens == 16
    assert answer_only(edited, sentiment_context(), random.Random(0)) is None


def test_it_adds_only_train_demonstrations_with_both_labels():
    context = sentiment_context()
    train_inputs = [example.inputs for example in context.train]

    edited = add_demos_operator(4)(SENTIMENT_PROMPT, context, random.Random(5))

    assert edited is not None
    assert 2 <= len(edited.demonstrations) <= 4
    for inputs, output in edited.demonstrations:
        assert inputs in train_inputs
        assert output == next(example.expected for example in context.train if example.inputs == inputs)
    assert {output for _inputs, output in edited.demonstrations} == {"positive", "negative"}


def test_it_adds_no_demonstration_past_the_limit():
    context = sentiment_context()
    full = add_demos_operator(2)(SENTIMENT_PROMPT, context, random.Random(1))

    assert full is not None
    assert len(full.demonstrations) == 2
    assert add_demos_operator(2)(full, context, random.Random(1)) is None


def test_it_reorders_and_drops_demonstrations():
    context = sentiment_context()
    with_demos = SENTIMENT_PROMPT.edit(
        demonstrations=tuple((example.inputs, example.expected) for example in context.train[:3])
    )

    reordered = reorder_demos(with_demos, context, random.Random(2))
    dropped = drop_demo(with_demos, context, random.Random(2))

    assert reordered is not None and dropped is not None
    assert reordered.demonstrations != with_demos.demonstrations
    assert sorted(map(repr, reordered.demonstrations)) == sorted(map(repr, with_demos.demonstrations))
    assert len(dropped.demonstrations) == 2
    assert set(map(repr, dropped.demonstrations)) < set(map(repr, with_demos.demonstrations))
    assert reorder_demos(SENTIMENT_PROMPT, context, random.Random(2)) is None
    assert drop_demo(SENTIMENT_PROMPT, context, random.Random(2)) is None


def test_it_adds_and_removes_step_by_step_reasoning():
    context = open_answer_context()

    with_reasoning = add_step_by_step(context.incumbent, context, random.Random(0))

    assert with_reasoning is not None
    assert STEP_BY_STEP in with_reasoning.system_instruction
    assert with_reasoning.max_tokens >= 256
    without = remove_step_by_step(with_reasoning, context, random.Random(0))
    assert without is not None
    assert STEP_BY_STEP not in without.instruction_text
    assert add_step_by_step(context.incumbent.edit(output_type="choice"), context, random.Random(0)) is None


def test_it_shortens_the_instruction_by_one_sentence_and_never_drops_an_input_line():
    context = sentiment_context()
    wordy = SENTIMENT_PROMPT.edit(system_instruction="You are a critic. Be precise. Judge the review.")

    shorter = shorten_instruction(wordy, context, random.Random(3))
    template_only = shorten_instruction(SENTIMENT_PROMPT, context, random.Random(3))

    assert shorter is not None
    assert len(shorter.system_instruction.split(". ")) == 2
    assert template_only is not None
    assert template_only.template == "Review: {{text}}"
    assert shorten_instruction(template_only, context, random.Random(3)) is None


def test_it_names_the_applied_operators_in_each_rationale():
    for proposal in MutationStrategy().propose(sentiment_context(seed=4), 10):
        assert proposal.rationale.startswith("Mutations: ")
        assert 1 <= len(proposal.params["operators"]) <= 3
