"""Property-based tests: random and adversarial bytes, JSON, templates and metric configs either succeed or are
refused with the project's own validation error, within a time bound; nothing else escapes.

The strategies lean on what broke before: braces and percent signs in templates, escapes for surrogates and
control characters, NaN, repeated keys, deep nesting, regex metacharacters and nested quantifiers.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptopt.errors import InvalidInputError
from promptopt.input_limits import JsonInputError, parse_json
from promptopt.safe_regex import PatternError, compile_pattern
from prompts.content import PromptContent
from prompts.importers import ImportOptions, ParsedDataset, parse_dataset_file
from prompts.placeholders import template_variables
from prompts.rendering import RenderError, render
from prompts.version_validation import validate_version_content
from tests.bounded_time import within_seconds
from workflows.metrics import MetricInput, build_metric, parse_metric_config
from workflows.metrics.config import SINGLE_METRIC_NAMES

BOUND_SECONDS = 10.0
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

# Pieces of JSON text that used to crash or mislead the readers, mixed into otherwise valid rows.
JSON_TRAPS = [
    '"\\ud800"',
    '"\\udfff"',
    '"\\u0000"',
    '"\\u001b"',
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "[" * 50 + "]" * 50,
    "[" * 3000,
    '{"a": 1, "a": 2}',
    "9" * 5000,
    '"' + "x" * 200_001 + '"',
    "{",
    "}",
    "null",
    "true",
    "[]",
    "{}",
    '"text"',
    '"target"',
    ":",
    ",",
]
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
trap_text = st.lists(st.sampled_from(JSON_TRAPS) | st.text(max_size=10), max_size=12).map("".join)


def _jsonl_line(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["valid", "values", "traps"]))
    if kind == "valid":
        return json.dumps({"text": draw(st.text(min_size=1, max_size=20)), "target": draw(st.text(max_size=10))})
    if kind == "values":
        return json.dumps(draw(json_values))
    return '{"text": ' + draw(trap_text) + ', "target": ' + draw(st.sampled_from(JSON_TRAPS)) + "}"


@st.composite
def jsonl_files(draw: st.DrawFn) -> bytes:
    return "\n".join(_jsonl_line(draw) for _ in range(draw(st.integers(1, 6)))).encode("utf-8", "surrogatepass")


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    cells = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(['"', ",", "\n", "\x00", "\x1b"]))
    rows = draw(st.lists(st.lists(cells, min_size=1, max_size=4), min_size=1, max_size=6))
    header = draw(st.sampled_from(["text,target", "text,target,split", "target", "a;b;target", ""]))
    return (header + "\n" + "\n".join(",".join(row) for row in rows)).encode()


def _import(file_name: str, content: bytes, options: ImportOptions) -> None:
    try:
        parsed = within_seconds(
            lambda: parse_dataset_file(file_name=file_name, content=content, options=options), BOUND_SECONDS
        )
    except InvalidInputError:
        return
    assert isinstance(parsed, ParsedDataset)
    for row in parsed.rows:
        # Whatever is accepted can be stored: valid text without control characters, within the size limit.
        for value in (*row.inputs.values(), row.expected_output, *row.accepted_answers):
            assert value.encode("utf-8")
            assert "\x00" not in value


@PROPERTY_SETTINGS
@given(content=st.binary(max_size=3000), file_name=st.sampled_from(["d.csv", "d.jsonl", "d.txt"]))
def test_random_bytes_are_imported_or_refused(content, file_name):
    _import(file_name, content, ImportOptions())


@PROPERTY_SETTINGS
@given(content=jsonl_files(), split_map=st.sampled_from([{}, {"train": ("train",)}]))
def test_adversarial_jsonl_is_imported_or_refused(content, split_map):
    _import("d.jsonl", content, ImportOptions(split_map=split_map))


@PROPERTY_SETTINGS
@given(content=csv_files(), delimiter=st.sampled_from([",", ";", "\t", "ab", '"']))
def test_adversarial_csv_is_imported_or_refused(content, delimiter):
    _import("d.csv", content, ImportOptions(delimiter=delimiter))


@PROPERTY_SETTINGS
@given(text=trap_text | st.text(max_size=200))
def test_strict_json_reading_returns_or_says_what_is_wrong(text):
    try:
        within_seconds(lambda: parse_json(text), BOUND_SECONDS)
    except JsonInputError as error:
        assert str(error)


template_text = st.text(
    alphabet=st.sampled_from(list("{}%# \n:ab_xyz.|")) | st.characters(codec="utf-8"), max_size=300
) | st.builds(lambda n, s: s * n, st.integers(1, 20_000), st.sampled_from(["{{", "{%", "{{a", "}}", "{{ x }}"]))


@PROPERTY_SETTINGS
@given(template=template_text, instruction=template_text, value=st.text(max_size=50))
def test_templates_are_refused_or_render_for_every_example(template, instruction, value):
    content = {
        "template": template,
        "system_instruction": instruction,
        "demonstrations": [],
        "output_type": "text",
        "output_choices": [],
        "output_schema": None,
    }
    errors = within_seconds(lambda: validate_version_content(content), BOUND_SECONDS)
    if errors:
        assert all(isinstance(message, str) and message for messages in errors.values() for message in messages)
        return
    spec = PromptContent(template=template, system_instruction=instruction)
    inputs = dict.fromkeys(template_variables(template), value)
    rendered = within_seconds(lambda: render(spec, inputs), BOUND_SECONDS)
    assert rendered.completion_text.endswith(":")
    try:
        render(spec, {})
    except RenderError as error:
        assert error.missing == tuple(template_variables(template))
    else:
        assert not template_variables(template)


metric_parameters = st.dictionaries(
    st.sampled_from(["pattern", "flags", "tolerance", "choices", "schema", "rubric", "weight", "combine", "x"]),
    json_values | st.sampled_from(["(\\D+)+!", "(a|aa)*$", "(?<=a)b", "[", "x", "imsa", "NaN"]),
    max_size=3,
)


@PROPERTY_SETTINGS
@given(
    name=st.sampled_from([*SINGLE_METRIC_NAMES, "combine", "nope"]),
    parameters=metric_parameters,
    output=st.text(max_size=300) | st.just("a" * 5000 + "?"),
)
def test_metric_configs_are_refused_or_score_any_output_in_bounded_time(name, parameters, output):
    data = {"name": name, **parameters}
    try:
        config = within_seconds(lambda: parse_metric_config(data), BOUND_SECONDS)
    except InvalidInputError as error:
        assert str(error)
        return
    if name in {"llm_judge", "embedding_similarity"}:
        return  # need a model gateway or the optional ML group; their parsing is what is under test here
    metric = build_metric(config)
    result = within_seconds(lambda: metric.score(MetricInput(output=output, expected="a")), BOUND_SECONDS)
    assert 0.0 <= result.score <= 1.0


regex_pieces = st.sampled_from(
    ["(", ")", "+", "*", "?", "|", "\\D", "\\1", "(?<=", "[", "]", "a", ".", "{2,}", "^", "$"]
)


@PROPERTY_SETTINGS
@given(
    pattern=st.lists(regex_pieces, max_size=30).map("".join),
    flags=st.text(alphabet="imsax", max_size=3),
    text=st.text(max_size=100) | st.just("a" * 10_000 + "!?"),
)
def test_any_pattern_compiles_or_is_refused_and_matches_in_linear_time(pattern, flags, text):
    try:
        compiled = compile_pattern(pattern, flags)
    except PatternError as error:
        assert str(error)
        return
    within_seconds(lambda: compiled.fullmatch(text), BOUND_SECONDS)
    within_seconds(lambda: compiled.search(text), BOUND_SECONDS)
