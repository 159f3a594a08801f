"""Naming the answer from train pairs: the prompts the task model is asked, and which of its answers count."""

from __future__ import annotations

from workflows.engine.answer_names import (
    MIN_AGREEMENT,
    MIN_TRAIN_ROWS,
    NAMING_CUE,
    NAMING_SAMPLES,
    PAIRS_PER_SAMPLE,
    agreed_names,
    answer_name,
    naming_calls,
    naming_prompts,
)
from workflows.engine.data import EngineExample


def word_pairs(count: int) -> tuple[EngineExample, ...]:
    return tuple(
        EngineExample(id=index, inputs={"text": f"word{index}"}, expected=f"drow{index}") for index in range(count)
    )


def test_each_prompt_shows_train_pairs_then_asks_for_the_answers_name():
    train = word_pairs(20)

    prompts = naming_prompts(train, seed=3)

    assert len(prompts) == NAMING_SAMPLES
    assert len(set(prompts)) > 1  # each prompt samples its own pairs
    for prompt in prompts:
        blocks = prompt.split("\n\n")
        assert blocks[-1] == NAMING_CUE
        assert len(blocks) == PAIRS_PER_SAMPLE + 1
        for block in blocks[:-1]:
            given, answer = block.split("\n")
            example = next(example for example in train if f"Input: {example.inputs['text']}" == given)
            assert answer == f"Output: {example.expected}"
    assert naming_prompts(train, seed=3) == prompts
    assert naming_prompts(train, seed=4) != prompts


def test_long_inputs_are_cut_and_several_input_fields_are_named():
    long_rows = [EngineExample(id=index, inputs={"text": "x" * 5000}, expected="y" * 900) for index in range(6)]
    two_fields = [
        EngineExample(id=10 + index, inputs={"question": "Why?", "context_text": "Because."}, expected="b")
        for index in range(6)
    ]

    prompts = "\n".join(naming_prompts((*long_rows, *two_fields), seed=0))

    assert "x" * 300 in prompts and "x" * 301 not in prompts
    assert "y" * 300 in prompts and "y" * 301 not in prompts
    assert "Question: Why?\nContext text: Because.\nOutput: b" in prompts


def test_a_name_is_the_phrase_before_its_first_function_word():
    assert answer_name(" opposite of the input.") == "Opposite"
    assert answer_name(" first letter of the word") == "First letter"
    assert answer_name(" original meaning") == "Original meaning"
    assert answer_name(" date in MM/DD/YYYY") == "Date"


def test_answers_that_name_no_relation_are_not_names():
    for continuation in (" same as the input", " output", " own output", " answer", "", "  \n", " 42"):
        assert answer_name(continuation) is None


def test_only_names_several_samples_agree_on_count_most_frequent_first():
    continuations = [" opposite", " opposite of it", " name", " size.", " plural", " plural.", " plural", None]

    assert MIN_AGREEMENT == 2
    assert agreed_names(continuations) == ("Plural", "Opposite")
    assert agreed_names([" opposite", " name", None]) == ()


def test_the_question_costs_calls_only_when_the_mutations_run_and_train_has_pairs_to_sample():
    assert naming_calls(["auto"], train_size=100) == NAMING_SAMPLES
    assert naming_calls(["mutations", "demos"], train_size=100) == NAMING_SAMPLES
    assert naming_calls(["demos", "critique"], train_size=100) == 0
    assert naming_calls(["auto"], train_size=MIN_TRAIN_ROWS - 1) == 0
    assert naming_prompts(word_pairs(MIN_TRAIN_ROWS - 1), seed=0) == []
    assert len(naming_prompts(word_pairs(MIN_TRAIN_ROWS), seed=0)) == NAMING_SAMPLES
