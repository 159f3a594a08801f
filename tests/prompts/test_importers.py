"""Unit tests for prompts.importers: small files written inline, no database."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from promptopt.errors import InvalidInputError, PromptOptError
from prompts.importers import (
    MAX_PROBLEMS,
    DatasetFileError,
    ImportOptions,
    ParsedDataset,
    ParsedRow,
    Problem,
    parse_dataset_file,
    parse_split_map,
)
from prompts.splits import ALL_SPLITS, Split

TRAIN, VALIDATION, TEST = Split.TRAIN, Split.VALIDATION, Split.TEST
BENCHMARKS = Path(__file__).resolve().parents[2].parent / "shared" / "benchmarks"


def parse(content: str | bytes, name: str = "data.csv", **options: Any) -> ParsedDataset:
    data = content.encode() if isinstance(content, str) else content
    return parse_dataset_file(file_name=name, content=data, options=ImportOptions(**options))


def problems(content: str | bytes, name: str = "data.csv", **options: Any) -> list[Problem]:
    with pytest.raises(DatasetFileError) as caught:
        parse(content, name, **options)
    return caught.value.problems


def only_problem(content: str | bytes, name: str = "data.csv", **options: Any) -> Problem:
    found = problems(content, name, **options)
    assert len(found) == 1, found
    return found[0]


def jsonl(*objects: object) -> str:
    return "".join(json.dumps(obj) + "\n" for obj in objects)


# --- good CSV ---------------------------------------------------------------------------------------------


def test_it_parses_a_csv_with_every_non_target_column_as_an_input() -> None:
    dataset = parse("question,context,target\nWhat?,Some text, yes \nWhy?,More,no\n")

    assert dataset.file_format == "csv"
    assert dataset.input_fields == ("question", "context")
    assert dataset.rows == [
        ParsedRow(2, {"question": "What?", "context": "Some text"}, "yes", (), ALL_SPLITS),
        ParsedRow(3, {"question": "Why?", "context": "More"}, "no", (), ALL_SPLITS),
    ]


def test_it_keeps_quoted_multi_line_cells_and_numbers_rows_by_the_line_they_start_on() -> None:
    content = (
        'text,target\r\n"first line\r\nsecond line\r\n\r\nfourth, with comma",a\r\n'
        '"He said ""hi""",b\r\n'
        "\r\n"
        "plain,c\r\n"
    )

    dataset = parse(content)

    assert [(row.line, row.inputs["text"], row.expected_output) for row in dataset.rows] == [
        (2, "first line\r\nsecond line\r\n\r\nfourth, with comma", "a"),
        (6, 'He said "hi"', "b"),
        (8, "plain", "c"),
    ]


def test_it_accepts_and_strips_a_utf8_byte_order_mark() -> None:
    dataset = parse("\ufeffinput,target\nÄpfel,äpfel\n".encode())

    assert dataset.input_fields == ("input",)
    assert dataset.rows[0].inputs == {"input": "Äpfel"}
    assert dataset.rows[0].expected_output == "äpfel"


def test_it_strips_spaces_around_csv_header_names() -> None:
    dataset = parse(" input , target \nx,y\n")

    assert dataset.input_fields == ("input",)
    assert dataset.rows[0].expected_output == "y"


def test_it_reads_the_split_and_accepted_answers_columns_when_present() -> None:
    content = "\n".join(
        [
            "input,target,split,accepted_answers",
            'a,A,Train,"[""A"", "" a2 "", """"]"',
            "b,B,dev,B| b2 ||",
            "c,C,test,",
        ]
    )

    dataset = parse(content)

    assert dataset.input_fields == ("input",)
    assert [(row.allowed_splits, row.accepted_answers) for row in dataset.rows] == [
        ((TRAIN,), ("A", "a2")),
        ((VALIDATION,), ("B", "b2")),
        ((TEST,), ()),
    ]


def test_it_treats_bracketed_text_that_is_not_json_as_pipe_separated_answers() -> None:
    dataset = parse("input,target,accepted_answers\nq,[A],[A]|[B]\n")

    assert dataset.rows[0].accepted_answers == ("[A]", "[B]")


def test_it_uses_the_split_map_before_split_aliases() -> None:
    content = "input,target,split\na,1,induce\nb,2,test\nc,3,execute\n"

    dataset = parse(content, split_map={"induce": (VALIDATION, TRAIN), "test": (TRAIN,), "execute": (TEST,)})

    assert [row.allowed_splits for row in dataset.rows] == [(TRAIN, VALIDATION), (TRAIN,), (TEST,)]


def test_it_reads_a_csv_with_another_delimiter_when_asked() -> None:
    dataset = parse("input;target\nx;y\n", delimiter=";")

    assert dataset.rows[0].inputs == {"input": "x"}


def test_it_uses_only_the_explicit_input_fields_in_the_given_order() -> None:
    dataset = parse("b,a,label\n1,2,yes\n", input_fields=("a", "b"), target_field="label")

    assert dataset.input_fields == ("a", "b")
    assert dataset.rows[0].inputs == {"a": "2", "b": "1"}
    assert dataset.rows[0].expected_output == "yes"


def test_it_uses_explicit_split_and_answers_columns() -> None:
    content = "input,target,fold,ok\nx,y,validation,y|Y\n"

    dataset = parse(content, split_field="fold", answers_field="ok")

    assert dataset.input_fields == ("input",)
    assert dataset.rows[0].allowed_splits == (VALIDATION,)
    assert dataset.rows[0].accepted_answers == ("y", "Y")


def test_it_keeps_inputs_as_given_but_strips_the_target() -> None:
    dataset = parse('input,target\n"  spaced  ","  out  "\n')

    assert dataset.rows[0].inputs == {"input": "  spaced  "}
    assert dataset.rows[0].expected_output == "out"


# --- good JSONL -------------------------------------------------------------------------------------------


def test_it_parses_the_shared_benchmark_jsonl_shape_with_auto_detected_meta_fields() -> None:
    content = jsonl(
        {
            "input": "great film",
            "target": "positive",
            "meta": {"split": "induce", "answers": ["positive", "pos"]},
        },
        {"input": "dull", "target": "negative", "meta": {"split": "execute", "answers": ["negative"]}},
    )

    dataset = parse(content, "sentiment.jsonl", split_map={"induce": (TRAIN, VALIDATION), "execute": (TEST,)})

    assert dataset.file_format == "jsonl"
    assert dataset.input_fields == ("input",)
    assert dataset.rows == [
        ParsedRow(1, {"input": "great film"}, "positive", ("positive", "pos"), (TRAIN, VALIDATION)),
        ParsedRow(2, {"input": "dull"}, "negative", ("negative",), (TEST,)),
    ]


def test_it_converts_json_numbers_and_booleans_to_text_keeping_the_written_decimals() -> None:
    content = jsonl({"a": 3, "b": True, "target": 1}) + '{"a": 3.50, "b": false, "target": 2.0}\n'

    dataset = parse(content, "numbers.jsonl")

    assert [(row.inputs, row.expected_output) for row in dataset.rows] == [
        ({"a": "3", "b": "true"}, "1"),
        ({"a": "3.50", "b": "false"}, "2.0"),
    ]


def test_it_spells_json_booleans_the_json_way_in_targets_answers_and_split_values() -> None:
    content = jsonl(
        {"input": "a", "target": True, "meta": {"answers": [True, "yes"], "split": True}},
        {"input": "b", "target": False, "meta": {"answers": [False, 0], "split": False}},
    )

    dataset = parse(content, "d.jsonl", split_map={"true": (TRAIN,), "false": (TEST,)})

    assert [(row.expected_output, row.accepted_answers, row.allowed_splits) for row in dataset.rows] == [
        ("true", ("true", "yes"), (TRAIN,)),
        ("false", ("false", "0"), (TEST,)),
    ]


def test_it_spells_booleans_in_a_json_answers_cell_the_json_way() -> None:
    dataset = parse('input,target,accepted_answers\nq,true,"[true, ""yes""]"\n')

    assert dataset.rows[0].accepted_answers == ("true", "yes")


def test_it_skips_blank_lines_in_jsonl_and_keeps_physical_line_numbers() -> None:
    content = "\n" + jsonl({"x": "a", "target": "1"}) + "   \n\r\n" + jsonl({"x": "b", "target": "2"})

    dataset = parse(content, "data.ndjson")

    assert [row.line for row in dataset.rows] == [2, 5]


def test_it_stores_a_dotted_input_field_under_its_last_segment() -> None:
    content = jsonl({"question": "q", "meta": {"context": "c", "label": "yes"}})

    dataset = parse(content, "d.jsonl", input_fields=("question", "meta.context"), target_field="meta.label")

    assert dataset.input_fields == ("question", "context")
    assert dataset.rows[0].inputs == {"question": "q", "context": "c"}
    assert dataset.rows[0].expected_output == "yes"


def test_it_reads_an_explicit_nested_split_field_and_accepts_rows_without_answers() -> None:
    content = jsonl(
        {"input": "a", "target": "A", "meta": {"split": "all", "opro_split": "train"}},
        {"input": "b", "target": "B", "meta": {"split": "all", "opro_split": "test"}},
    )

    dataset = parse(content, "d.jsonl", split_field="meta.opro_split")

    assert [(row.allowed_splits, row.accepted_answers) for row in dataset.rows] == [
        ((TRAIN,), ()),
        ((TEST,), ()),
    ]


def test_it_auto_detects_top_level_split_and_accepted_answers_keys_in_jsonl() -> None:
    content = jsonl({"input": "a", "target": "A", "split": "val", "accepted_answers": ["A", 1]})

    dataset = parse(content, "d.jsonl")

    assert dataset.input_fields == ("input",)
    assert dataset.rows[0].allowed_splits == (VALIDATION,)
    assert dataset.rows[0].accepted_answers == ("A", "1")


def test_it_lets_every_split_take_rows_when_there_is_no_split_field() -> None:
    dataset = parse(jsonl({"input": "a", "target": "A", "meta": {"id": 7}}), "d.jsonl")

    assert dataset.rows[0].allowed_splits == ALL_SPLITS
    assert dataset.rows[0].accepted_answers == ()


def test_it_takes_the_format_from_the_option_over_the_file_name() -> None:
    dataset = parse("input,target\nx,y\n", "upload.txt", file_format="csv")

    assert dataset.file_format == "csv"


def test_it_recognises_upper_case_extensions_and_windows_paths() -> None:
    assert parse("input,target\nx,y\n", "C:\\Users\\me\\DATA.CSV").file_format == "csv"
    assert parse(jsonl({"input": "x", "target": "y"}), "rows.NDJSON").file_format == "jsonl"


# --- split map --------------------------------------------------------------------------------------------


def test_it_parses_a_split_map_with_aliases_into_canonical_split_order() -> None:
    assert parse_split_map(" induce = val+Train , execute=test,all=train+validation+test") == {
        "induce": (TRAIN, VALIDATION),
        "execute": (TEST,),
        "all": ALL_SPLITS,
    }


def test_it_refuses_a_split_map_listing_every_bad_entry() -> None:
    with pytest.raises(DatasetFileError) as caught:
        parse_split_map("induce=trian,execute,=test,a=train,a=test,b=")

    not_a_pair = "is not VALUE=SPLIT[+SPLIT...]; e.g. induce=train+validation,execute=test"
    assert [str(problem) for problem in caught.value.problems] == [
        "--split-map entry 'induce=trian': unknown split 'trian'; use train, validation, test "
        "(or training, valid, val, dev, testing)",
        f"--split-map entry 'execute' {not_a_pair}",
        f"--split-map entry '=test' {not_a_pair}",
        "--split-map maps 'a' twice",
        f"--split-map entry 'b=' {not_a_pair}",
    ]


def test_it_refuses_an_empty_split_map() -> None:
    with pytest.raises(DatasetFileError, match="--split-map is empty"):
        parse_split_map("  ")


def test_it_keeps_the_null_key_of_a_split_map_as_written() -> None:
    assert parse_split_map("train=train,dev=validation,null=test") == {
        "train": (TRAIN,),
        "dev": (VALIDATION,),
        "null": (TEST,),
    }


def test_it_sends_rows_without_a_split_value_where_the_null_key_says() -> None:
    content = jsonl(
        {"input": "a", "target": "1", "meta": {"dspy_split": "train"}},
        {"input": "b", "target": "2", "meta": {"dspy_split": None}},
        {"input": "c", "target": "3", "meta": {}},
        {"input": "d", "target": "4", "meta": {"dspy_split": "  "}},
        {"input": "e", "target": "5", "meta": {"dspy_split": "dev"}},
    )

    dataset = parse(
        content,
        "d.jsonl",
        split_field="meta.dspy_split",
        split_map={"train": (TRAIN,), "dev": (VALIDATION,), "null": (TEST, VALIDATION)},
    )

    assert [row.allowed_splits for row in dataset.rows] == [
        (TRAIN,),
        (VALIDATION, TEST),
        (VALIDATION, TEST),
        (VALIDATION, TEST),
        (VALIDATION,),
    ]


def test_it_sends_blank_csv_split_cells_where_the_null_key_says() -> None:
    dataset = parse("input,target,split\na,1,\nb,2, \nc,3,test\n", split_map={"null": (TRAIN,)})

    assert [row.allowed_splits for row in dataset.rows] == [(TRAIN,), (TRAIN,), (TEST,)]


def test_it_refuses_a_split_map_that_sends_a_value_nowhere() -> None:
    problem = only_problem("input,target,split\nx,y,induce\n", split_map={"induce": ()})

    assert str(problem) == "--split-map sends 'induce' to no split"


# --- refused files: size, encoding, format ----------------------------------------------------------------


def test_it_refuses_a_file_over_the_byte_limit_naming_both_sizes() -> None:
    problem = only_problem("input,target\nx,y\n", max_bytes=10)

    assert str(problem) == "file is 17 bytes; the limit is 10 bytes"


def test_it_refuses_an_empty_file() -> None:
    assert str(only_problem(b"")) == "file is empty"
    assert str(only_problem("\ufeff \n\n", "d.jsonl")) == "file is empty"


def test_it_refuses_a_csv_with_a_header_but_no_rows() -> None:
    assert str(only_problem("input,target\n\n")) == "file has a header row but no data rows"


def test_it_refuses_more_rows_than_the_limit() -> None:
    assert str(only_problem("input,target\na,1\nb,2\nc,3\n", max_rows=2)) == "file has 3 rows; the limit is 2"
    content = jsonl(*({"input": str(n), "target": "t"} for n in range(3)))
    assert str(only_problem(content, "d.jsonl", max_rows=2)) == "file has 3 rows; the limit is 2"


def test_it_refuses_a_file_that_is_not_utf8_naming_each_bad_line() -> None:
    content = b"input,target\nok,1\n" + "café,2\n".encode("latin-1") + b"x,3\n\xff,4\n"

    found = problems(content)

    assert [(problem.line, problem.field) for problem in found] == [(3, None), (5, None)]
    assert found[0].message == "not valid UTF-8 (byte 0xe9 at byte 4 of the line); save the file as UTF-8"


def test_it_refuses_a_file_name_without_a_known_extension() -> None:
    problem = only_problem("input,target\nx,y\n", "data.xlsx")

    assert str(problem) == (
        "cannot tell the format of 'data.xlsx' from its extension; use a .csv, .jsonl or .ndjson file"
    )
    assert "cannot tell the format" in str(only_problem("input,target\nx,y\n", "csv"))


# --- refused CSV files ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "delimiter"),
    [("input;target\nx;y\n", ";"), ("input\ttarget\nx\ty\n", "\t"), ("a|b\n1|2\n", "|")],
)
def test_it_recognises_a_wrong_delimiter_and_names_the_right_one(header: str, delimiter: str) -> None:
    problem = only_problem(header)

    assert problem.line is None
    assert f"looks like {delimiter!r}-delimited; pass --delimiter {delimiter!r}" in problem.message


def test_it_suggests_a_comma_when_another_delimiter_was_asked_for() -> None:
    problem = only_problem("input,target\nx,y\n", delimiter=";")

    assert problem.message.endswith("looks like ','-delimited; pass --delimiter ','")


def test_it_refuses_duplicate_and_empty_header_names() -> None:
    found = problems("input,target,input, \nx,y,z,w\n")

    assert [str(problem) for problem in found] == [
        "field 'input': duplicate column name (columns 1 and 3)",
        "column 4 of the header has no name",
    ]


def test_it_refuses_records_with_the_wrong_number_of_cells_naming_the_line() -> None:
    found = problems("input,target\nx,y,extra\nok,1\nshort\n")

    assert [str(problem) for problem in found] == [
        "line 2: row has 3 cells but the header has 2 columns",
        "line 4: row has 1 cells but the header has 2 columns",
    ]


def test_it_refuses_a_csv_without_the_target_column_listing_the_columns_found() -> None:
    problem = only_problem("question,answer\nx,y\n")

    assert str(problem) == (
        "field 'target': column is missing; columns found: 'question', 'answer'; "
        "name the target column with --target-field"
    )


def test_it_refuses_explicitly_requested_columns_that_are_missing() -> None:
    requested: dict[str, Any] = {
        "input_fields": ("input", "context"),
        "split_field": "fold",
        "answers_field": "ok",
    }

    found = problems("input,target\nx,y\n", **requested)

    assert [(problem.field, problem.message) for problem in found] == [
        ("fold", "column is missing; columns found: 'input', 'target'; check --split-field"),
        ("ok", "column is missing; columns found: 'input', 'target'; check --answers-field"),
        ("context", "column is missing; columns found: 'input', 'target'; check --input-field"),
    ]


def test_it_refuses_columns_outside_explicit_input_fields() -> None:
    problem = only_problem("input,notes,target\nx,n,y\n", input_fields=("input",))

    assert problem.field == "notes"
    assert problem.message == "unknown column; add it with --input-field to use it as an input, or remove it"


def test_it_refuses_column_names_that_cannot_be_template_placeholders() -> None:
    problem = only_problem("user question,target\nx,y\n")

    assert problem.field == "user question"
    assert "'user question' cannot be an input name" in problem.message
    assert "[A-Za-z_][A-Za-z0-9_]*" in problem.message


def test_it_refuses_an_input_field_that_is_also_the_target() -> None:
    problem = only_problem("input,target\nx,y\n", input_fields=("input", "target"))

    assert problem.field == "target"
    assert problem.message == "is used both as an input and as the target, split or answers field"


def test_it_refuses_a_csv_with_only_role_columns() -> None:
    problem = only_problem("target,split\ny,train\n")

    assert str(problem) == "no input columns: the only columns are 'target', 'split'"


def test_it_refuses_empty_rows_blank_inputs_and_blank_targets_naming_line_and_field() -> None:
    found = problems("question,context,target\n,,\n  ,ctx,yes\nq,c,   \n")

    assert [str(problem) for problem in found] == [
        "line 2: row is empty",
        "line 3, field 'question': is empty",
        "line 4, field 'target': is empty",
    ]


def test_it_refuses_duplicate_rows_naming_the_first_occurrence_and_how_to_proceed() -> None:
    found = problems("input,target\nx,1\ny,2\nx, 1 \nx,2\n")

    assert [str(problem) for problem in found] == [
        "line 4: duplicates line 2 (pass --drop-duplicates to keep only the first)"
    ]


def test_it_drops_later_duplicates_when_asked_keeping_the_first_and_listing_them() -> None:
    content = "input,target,split\nx,1,test\ny,2,train\nx, 1 ,train\nx,2,train\ny,2,dev\nx,1,dev\n"

    dataset = parse(content, drop_duplicates=True)

    assert [(row.line, row.inputs, row.expected_output, row.allowed_splits) for row in dataset.rows] == [
        (2, {"input": "x"}, "1", (TEST,)),
        (3, {"input": "y"}, "2", (TRAIN,)),
        (5, {"input": "x"}, "2", (TRAIN,)),
    ]
    assert dataset.dropped_duplicates == ((4, 2), (6, 3), (7, 2))


def test_it_drops_no_rows_from_a_file_without_duplicates() -> None:
    dataset = parse(jsonl({"input": "x", "target": "1"}, {"input": "x", "target": "2"}), "d.jsonl")

    assert len(dataset.rows) == 2
    assert dataset.dropped_duplicates == ()
    assert parse("input,target\nx,1\n", drop_duplicates=True).dropped_duplicates == ()


def test_it_still_refuses_other_problems_when_dropping_duplicates() -> None:
    found = problems("input,target\nx,1\nx,1\n,2\n", drop_duplicates=True)

    assert [str(problem) for problem in found] == ["line 4, field 'input': is empty"]


def test_it_refuses_an_unknown_split_value_once_per_value_and_suggests_a_split_map() -> None:
    content = "input,target,split\na,1,induce\nb,2,induce\nc,3,train\nd,4,execute\n"

    found = problems(content, split_map={"all": ALL_SPLITS})

    assert [(problem.line, problem.field) for problem in found] == [(2, "split"), (5, "split")]
    assert str(found[0]) == (
        "line 2, field 'split': unknown split value 'induce' (later rows with it are not listed); "
        "map it with --split-map induce=train+validation (any of train, validation, test joined by '+'); "
        "the split map knows 'all'"
    )
    assert found[1].message.endswith("the split map knows 'all'")


def test_it_refuses_an_empty_split_value() -> None:
    problem = only_problem("input,target,split\na,1, \n")

    assert str(problem) == (
        "field 'split': 1 row has no split value (first: line 2); map them with --split-map null=SPLIT[+SPLIT...]"
    )


def test_it_reports_rows_without_a_split_value_once_with_their_count_in_file_order() -> None:
    content = jsonl(
        {"input": "a", "target": "1", "meta": {"split": "train"}},
        {"input": "b", "target": "", "meta": {"split": "train"}},
        {"input": "c", "target": "3", "meta": {"split": None}},
        {"input": "d", "target": "4", "meta": {}},
        {"input": "e", "target": "5", "meta": {"split": ""}},
        {"input": "f", "target": "", "meta": {"split": None}},
        {"input": "g", "target": "7", "meta": {"split": "holdout"}},
    )

    found = problems(content, "d.jsonl", split_map={"train": (TRAIN,)})

    assert [str(problem) for problem in found] == [
        "line 2, field 'target': is empty",
        "field 'meta.split': 4 rows have no split value (first: line 3); "
        "map them with --split-map null=SPLIT[+SPLIT...]",
        "line 6, field 'target': is empty",
        "line 7, field 'meta.split': unknown split value 'holdout' (later rows with it are not listed); "
        "map it with --split-map holdout=train+validation (any of train, validation, test joined by '+'); "
        "the split map knows 'train'",
    ]


def test_it_refuses_malformed_csv_quoting_naming_the_record_start() -> None:
    found = problems('input,target\nok,1\n"never closed,2\nx,3\n')

    assert [str(problem) for problem in found] == [
        "line 3: malformed CSV in the record starting here: unexpected end of data (noticed on line 4)"
    ]


def test_it_refuses_a_multi_character_delimiter() -> None:
    assert "delimiter must be one character" in str(only_problem("input,target\nx,y\n", delimiter=";;"))


# --- refused JSONL files ----------------------------------------------------------------------------------


def test_it_refuses_malformed_json_and_non_object_lines_naming_the_line() -> None:
    content = jsonl({"input": "a", "target": "1"}) + '{"input": "b", "target": \n' + "[1, 2]\n" + '"text"\n'

    found = problems(content, "d.jsonl")

    assert [str(problem) for problem in found] == [
        "line 2: malformed JSON: Expecting value (column 26)",
        "line 3: expected a JSON object, got a list",
        "line 4: expected a JSON object, got a str",
    ]


def test_it_refuses_rows_whose_keys_differ_from_the_first_row() -> None:
    content = jsonl(
        {"question": "a", "context": "c", "target": "1"},
        {"question": "b", "contxt": "c", "target": "2"},
        {"question": "c", "context": "c"},
    )

    found = problems(content, "d.jsonl")

    assert [(problem.line, problem.field) for problem in found] == [
        (2, "contxt"),
        (2, "context"),
        (3, "target"),
    ]
    assert found[0].message.startswith("unexpected key: the first row (line 1) does not have it")
    assert [found[1].message, found[2].message] == ["is missing", "is missing"]


def test_it_refuses_keys_outside_explicit_input_fields_but_allows_meta() -> None:
    content = jsonl({"input": "a", "extra": "x", "target": "1", "meta": {"id": 1}})

    problem = only_problem(content, "d.jsonl", input_fields=("input",))

    assert str(problem) == (
        "line 1, field 'extra': unknown field; add it with --input-field to use it as an input, or remove it"
    )


def test_it_refuses_a_missing_dotted_input_field() -> None:
    content = jsonl({"input": "a", "target": "1", "meta": {"context": "c"}}, {"input": "b", "target": "2"})

    problem = only_problem(content, "d.jsonl", input_fields=("input", "meta.context"))

    assert str(problem) == "line 2, field 'meta.context': is missing"


def test_it_refuses_input_values_that_are_objects_lists_or_null() -> None:
    content = jsonl(
        {"a": "ok", "b": "ok", "target": "1"},
        {"a": {"x": 1}, "b": None, "target": "2"},
        {"a": ["x"], "b": " ", "target": "3"},
    )

    found = problems(content, "d.jsonl")

    assert [str(problem) for problem in found] == [
        "line 2, field 'a': must be text or a number, got an object",
        "line 2, field 'b': must be text or a number, got null",
        "line 3, field 'a': must be text or a number, got a list",
        "line 3, field 'b': is empty",
    ]


def test_it_refuses_empty_or_missing_targets_in_jsonl() -> None:
    content = jsonl({"input": "a", "target": "  "}, {"input": "b", "target": None}, {"input": "c"})

    found = problems(content, "d.jsonl")

    assert [str(problem) for problem in found] == [
        "line 1, field 'target': is empty",
        "line 2, field 'target': must be text or a number, got null",
        "line 3, field 'target': is missing",
    ]


def test_it_refuses_answers_that_are_not_a_list_of_strings() -> None:
    content = jsonl(
        {"input": "a", "target": "1", "meta": {"answers": ["1"]}},
        {"input": "b", "target": "2", "meta": {"answers": "2"}},
        {"input": "c", "target": "3", "meta": {"answers": ["3", {"x": 1}]}},
    )

    found = problems(content, "d.jsonl")

    assert [str(problem) for problem in found] == [
        "line 2, field 'meta.answers': must be a list of strings, got a str",
        "line 3, field 'meta.answers': item 2 must be text or a number, got an object",
    ]


def test_it_refuses_an_explicit_answers_field_found_in_no_row() -> None:
    problem = only_problem(jsonl({"input": "a", "target": "1"}), "d.jsonl", answers_field="meta.ok")

    assert str(problem) == "field 'meta.ok': is not in any row; check --answers-field"


def test_it_refuses_a_row_missing_the_split_field_and_an_unknown_split_value() -> None:
    content = jsonl(
        {"input": "a", "target": "1", "meta": {"split": "train"}},
        {"input": "b", "target": "2", "meta": {}},
        {"input": "c", "target": "3", "meta": {"split": "holdout"}},
    )

    found = problems(content, "d.jsonl")

    assert [(problem.line, problem.field) for problem in found] == [(None, "meta.split"), (3, "meta.split")]
    assert found[0].message.startswith("1 row has no split value (first: line 2)")
    assert "unknown split value 'holdout'" in found[1].message
    assert "--split-map holdout=train+validation" in found[1].message
    assert found[1].message.endswith("no split map was given")


def test_it_refuses_duplicate_jsonl_rows_even_with_different_meta() -> None:
    content = jsonl(
        {"input": "a", "target": "1", "meta": {"idx": 0}},
        {"input": "a", "target": "1", "meta": {"idx": 1}},
    )

    assert str(only_problem(content, "d.jsonl")) == (
        "line 2: duplicates line 1 (pass --drop-duplicates to keep only the first)"
    )


def test_it_refuses_top_level_keys_that_cannot_be_input_names() -> None:
    problem = only_problem(jsonl({"the input": "a", "target": "1"}), "d.jsonl")

    assert problem.field == "the input"
    assert "cannot be an input name" in problem.message


# --- reporting --------------------------------------------------------------------------------------------


def test_it_stops_after_the_problem_limit_and_says_more_exist() -> None:
    content = "input,target\n" + "".join(f"x{n},\n" for n in range(150))

    found = problems(content)

    assert len(found) == MAX_PROBLEMS + 1
    assert str(found[0]) == "line 2, field 'target': is empty"
    assert str(found[-1]) == f"stopped after {MAX_PROBLEMS} problems; the file has more"


def test_it_shows_the_first_twenty_problems_in_the_error_message() -> None:
    error = DatasetFileError([Problem(n, "target", "is empty") for n in range(1, 26)])

    lines = str(error).split("\n")
    assert len(lines) == 21
    assert lines[0] == "line 1, field 'target': is empty"
    assert lines[19] == "line 20, field 'target': is empty"
    assert lines[20] == "… and 5 more"


def test_it_describes_problems_with_and_without_line_and_field() -> None:
    assert str(Problem(7, "target", "is empty")) == "line 7, field 'target': is empty"
    assert str(Problem(None, "target", "column is missing")) == "field 'target': column is missing"
    assert str(Problem(3, None, "duplicates line 2")) == "line 3: duplicates line 2"
    assert str(Problem(None, None, "file is empty")) == "file is empty"


def test_it_keeps_the_problems_when_the_error_is_pickled() -> None:
    error = DatasetFileError([Problem(1, "x", "is empty")])

    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - round-trips an object this test just made

    assert copy.problems == error.problems
    assert str(copy) == str(error)


def test_it_is_an_invalid_input_error_and_still_a_value_error() -> None:
    error = DatasetFileError([Problem(1, "x", "is empty")])

    assert isinstance(error, InvalidInputError)
    assert isinstance(error, PromptOptError)
    assert isinstance(error, ValueError)
    assert isinstance(pickle.loads(pickle.dumps(error)), InvalidInputError)  # noqa: S301 - made just above


def test_it_reports_all_row_problems_together() -> None:
    content = "input,target\n,1\nb,\nb,2\nb,2\n"

    found = problems(content)

    assert [str(problem) for problem in found] == [
        "line 2, field 'input': is empty",
        "line 3, field 'target': is empty",
        "line 5: duplicates line 4 (pass --drop-duplicates to keep only the first)",
    ]


# --- the shared benchmark files ---------------------------------------------------------------------------


def test_it_imports_the_shared_benchmark_files_with_a_split_map() -> None:
    sentiment, snarks = BENCHMARKS / "ape__sentiment.jsonl", BENCHMARKS / "bbh__snarks.jsonl"
    if not (sentiment.is_file() and snarks.is_file()):
        pytest.skip("shared benchmark files are not available")

    ape = parse_dataset_file(
        file_name=sentiment.name,
        content=sentiment.read_bytes(),
        options=ImportOptions(split_map={"induce": (TRAIN, VALIDATION), "execute": (TEST,)}),
    )
    bbh = parse_dataset_file(
        file_name=snarks.name,
        content=snarks.read_bytes(),
        options=ImportOptions(split_field="meta.opro_split", split_map={"train": (TRAIN, VALIDATION)}),
    )

    assert ape.input_fields == ("input",)
    assert len(ape.rows) == 1267
    assert ape.rows[0] == ParsedRow(
        1,
        {"input": "unpretentious, charming, quirky, original"},
        "positive",
        ("positive",),
        (TRAIN, VALIDATION),
    )
    assert sum(row.allowed_splits == (TEST,) for row in ape.rows) == 100
    assert ape.rows[-1].line == 1267
    assert bbh.input_fields == ("input",)
    assert len(bbh.rows) == 178
    assert sum(row.allowed_splits == (TRAIN, VALIDATION) for row in bbh.rows) == 35
    assert sum(row.allowed_splits == (TEST,) for row in bbh.rows) == 143
    first = bbh.rows[0]
    assert (first.line, first.expected_output, first.accepted_answers, first.allowed_splits) == (
        1,
        "(B)",
        (),
        (TEST,),
    )
    assert first.inputs["input"].startswith("Which statement is sarcastic?\nOptions:\n(A) He's a generous")


def test_it_refuses_the_ape_benchmark_without_a_split_map_naming_both_unknown_values() -> None:
    sentiment = BENCHMARKS / "ape__sentiment.jsonl"
    if not sentiment.is_file():
        pytest.skip("shared benchmark files are not available")

    with pytest.raises(DatasetFileError) as caught:
        parse_dataset_file(file_name=sentiment.name, content=sentiment.read_bytes(), options=ImportOptions())

    assert [(problem.line, problem.field) for problem in caught.value.problems] == [
        (1, "meta.split"),
        (1168, "meta.split"),
    ]
    assert "unknown split value 'induce'" in caught.value.problems[0].message
    assert "unknown split value 'execute'" in caught.value.problems[1].message


def test_it_drops_the_two_duplicate_rows_of_the_sports_understanding_benchmark() -> None:
    sports = BENCHMARKS / "bbh__sports_understanding.jsonl"
    if not sports.is_file():
        pytest.skip("shared benchmark files are not available")

    options = ImportOptions(split_field="meta.opro_split", drop_duplicates=True)
    dataset = parse_dataset_file(file_name=sports.name, content=sports.read_bytes(), options=options)

    assert len(dataset.rows) == 248
    assert dataset.dropped_duplicates == ((156, 28), (228, 81))
    assert {row.line for row in dataset.rows}.isdisjoint({156, 228})
    with pytest.raises(DatasetFileError) as caught:
        parse_dataset_file(
            file_name=sports.name,
            content=sports.read_bytes(),
            options=ImportOptions(split_field="meta.opro_split"),
        )
    assert [str(problem) for problem in caught.value.problems] == [
        "line 156: duplicates line 28 (pass --drop-duplicates to keep only the first)",
        "line 228: duplicates line 81 (pass --drop-duplicates to keep only the first)",
    ]


def test_it_imports_gsm8k_by_its_dspy_split_mapping_rows_without_one_to_test() -> None:
    gsm8k = BENCHMARKS / "gsm8k__main.jsonl"
    if not gsm8k.is_file():
        pytest.skip("shared benchmark files are not available")

    # meta.dspy_split is "train" on 200 rows, "dev" on 300, null on 6,973 and absent on the 1,319 test rows.
    dataset = parse_dataset_file(
        file_name=gsm8k.name,
        content=gsm8k.read_bytes(),
        options=ImportOptions(
            split_field="meta.dspy_split",
            split_map={"train": (TRAIN,), "dev": (VALIDATION,), "null": (TEST,)},
        ),
    )

    assert dataset.input_fields == ("input",)
    assert len(dataset.rows) == 8792
    assert dataset.dropped_duplicates == ()
    assert sum(row.allowed_splits == (TRAIN,) for row in dataset.rows) == 200
    assert sum(row.allowed_splits == (VALIDATION,) for row in dataset.rows) == 300
    assert sum(row.allowed_splits == (TEST,) for row in dataset.rows) == 8292
    assert (dataset.rows[0].line, dataset.rows[0].expected_output) == (1, "72")
    with pytest.raises(DatasetFileError) as caught:
        parse_dataset_file(
            file_name=gsm8k.name,
            content=gsm8k.read_bytes(),
            options=ImportOptions(split_field="meta.dspy_split", split_map={"dev": (VALIDATION,)}),
        )
    assert [str(problem) for problem in caught.value.problems] == [
        "field 'meta.dspy_split': 8,292 rows have no split value (first: line 1); "
        "map them with --split-map null=SPLIT[+SPLIT...]"
    ]
