"""Turns an uploaded CSV or JSONL dataset file into validated rows, or refuses it listing every problem.

Plain Python (no Django) so every entry point shares one parser and it tests without a database. It does
not assign splits; it only resolves which splits each row may go to (see prompts.splits.assign_splits).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from promptopt.errors import InvalidInputError
from promptopt.input_limits import (
    MAX_ACCEPTED_ANSWERS,
    MAX_INPUT_FIELDS,
    MAX_NAME_CHARS,
    JsonInputError,
    parse_json,
    text_problem,
)
from prompts.placeholders import IDENTIFIER
from prompts.splits import ALL_SPLITS, SPLIT_ALIASES, Split, row_content_key

FileFormat = Literal["csv", "jsonl"]

# Beyond this the user is better served by fixing the export than by reading more messages.
MAX_PROBLEMS = 100
SHOWN_PROBLEMS = 20

_EXTENSIONS: Mapping[str, FileFormat] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_FORMATS: Mapping[str, FileFormat] = {"csv": "csv", "jsonl": "jsonl"}
_UTF8_BOM = b"\xef\xbb\xbf"
# Delimiters that spreadsheet exports commonly use instead of the one asked for.
_DELIMITER_GUESSES = (",", ";", "\t", "|")
_CANONICAL_SPLIT_NAMES = ", ".join(split.value for split in ALL_SPLITS)
_EXTRA_ALIASES = ", ".join(alias for alias in SPLIT_ALIASES if alias not in {s.value for s in ALL_SPLITS})
_SPLIT_MAP_WITHOUT_COLUMN = (
    "--split-map was given, but the file has no split column (looked for {looked_for}); name it with "
    "--split-field, or leave out --split-map to assign splits by --seed"
)
# The split-map key for rows without a split value: JSON null, a missing key, or an empty or blank cell.
NO_SPLIT_VALUE = "null"


@dataclass(frozen=True)
class ImportOptions:
    """How to read a file; every None / empty default means "detect it from the file"."""

    input_fields: tuple[str, ...] = ()
    target_field: str = "target"
    split_field: str | None = None
    answers_field: str | None = None
    split_map: Mapping[str, tuple[Split, ...]] = dataclasses.field(default_factory=dict)
    file_format: FileFormat | None = None
    delimiter: str = ","
    max_bytes: int = 20 * 1024 * 1024
    max_rows: int = 100_000
    # Drop exact duplicate rows (same inputs and expected output), keeping the first, instead of refusing them.
    drop_duplicates: bool = False


@dataclass(frozen=True)
class ParsedRow:
    line: int
    inputs: dict[str, str]
    expected_output: str
    accepted_answers: tuple[str, ...]
    allowed_splits: tuple[Split, ...]


@dataclass(frozen=True)
class ParsedDataset:
    rows: list[ParsedRow]
    input_fields: tuple[str, ...]
    file_format: str
    # (line dropped, line it duplicates), in file order; only ever non-empty with ImportOptions.drop_duplicates.
    dropped_duplicates: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Problem:
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class DatasetFileError(InvalidInputError, ValueError):
    """The file was refused; `problems` lists everything wrong with it, in file order where possible."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        lines = [str(problem) for problem in self.problems[:SHOWN_PROBLEMS]]
        if len(self.problems) > SHOWN_PROBLEMS:
            lines.append(f"… and {len(self.problems) - SHOWN_PROBLEMS} more")
        super().__init__("\n".join(lines))

    def __reduce__(self) -> tuple[type[DatasetFileError], tuple[list[Problem]]]:
        # The default would re-create the error from the rendered message instead of the problem list,
        # which breaks task queues that pickle exceptions.
        return (type(self), (self.problems,))


class _TooManyProblems(Exception):
    pass


class _Problems:
    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, line: int | None, field: str | None, message: str) -> None:
        if len(self.items) >= MAX_PROBLEMS:
            raise _TooManyProblems
        self.items.append(Problem(line, field, message))

    def refuse(self) -> DatasetFileError:
        return DatasetFileError(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise self.refuse()


def _canonical_splits(splits: Sequence[Split] | set[Split]) -> tuple[Split, ...]:
    # assign_splits groups rows by the exact tuple, so (validation, train) must equal (train, validation).
    return tuple(split for split in ALL_SPLITS if split in splits)


def parse_split_map(text: str) -> dict[str, tuple[Split, ...]]:
    """Parse "induce=train+validation,execute=test" (CLI option syntax).

    Targets are split names or aliases from SPLIT_ALIASES joined by '+'. The value `null` is special: it
    matches rows without a split value (a JSON null, a missing key, or an empty or blank cell), e.g.
    "train=train,dev=validation,null=test"; without it such rows are refused. Bad syntax or unknown split
    names raise DatasetFileError listing every bad entry.
    """
    example = "e.g. induce=train+validation,execute=test"
    if not text.strip():
        raise DatasetFileError(
            [Problem(None, None, f"--split-map is empty; expected VALUE=SPLIT[+SPLIT...], {example}")]
        )
    problems: list[Problem] = []
    result: dict[str, tuple[Split, ...]] = {}
    for raw_entry in text.split(","):
        entry = raw_entry.strip()
        value, equals, targets = entry.partition("=")
        value = value.strip()
        if not equals or not value or not targets.strip():
            problems.append(
                Problem(None, None, f"--split-map entry {entry!r} is not VALUE=SPLIT[+SPLIT...]; {example}")
            )
            continue
        if value in result:
            problems.append(Problem(None, None, f"--split-map maps {value!r} twice"))
            continue
        chosen: set[Split] = set()
        valid = True
        for raw_name in targets.split("+"):
            name = raw_name.strip()
            split = SPLIT_ALIASES.get(name.lower())
            if split is None:
                valid = False
                problems.append(
                    Problem(
                        None,
                        None,
                        f"--split-map entry {entry!r}: unknown split {name!r}; use {_CANONICAL_SPLIT_NAMES} "
                        f"(or {_EXTRA_ALIASES})",
                    )
                )
            else:
                chosen.add(split)
        if valid:
            result[value] = _canonical_splits(chosen)
    if problems:
        raise DatasetFileError(problems)
    return result


def parse_dataset_file(*, file_name: str, content: bytes, options: ImportOptions) -> ParsedDataset:
    """Parse and validate a whole file; raise DatasetFileError with every problem, never return partially."""
    problems = _Problems()
    try:
        return _parse(file_name, content, options, problems)
    except _TooManyProblems:
        note = Problem(None, None, f"stopped after {MAX_PROBLEMS} problems; the file has more")
        raise DatasetFileError([*problems.items, note]) from None


def _parse(file_name: str, content: bytes, options: ImportOptions, problems: _Problems) -> ParsedDataset:
    # Checked before decoding so an oversized upload costs no more than its length.
    if len(content) > options.max_bytes:
        problems.add(None, None, f"file is {len(content):,} bytes; the limit is {options.max_bytes:,} bytes")
        raise problems.refuse()
    file_format = _resolve_format(file_name, options.file_format, problems)
    if content.startswith(_UTF8_BOM):
        content = content[len(_UTF8_BOM) :]
    text = _decode(content, problems)
    if text is not None and not text.strip():
        problems.add(None, None, "file is empty")
    if file_format is None or text is None or problems.items:
        raise problems.refuse()
    if file_format == "csv":
        return _parse_csv(text, options, problems)
    return _parse_jsonl(text, options, problems)


def _resolve_format(file_name: str, requested: str | None, problems: _Problems) -> FileFormat | None:
    if requested is not None:
        if requested in _FORMATS:
            return _FORMATS[requested]
        problems.add(None, None, f"unknown file format {requested!r}; use 'csv' or 'jsonl'")
        return None
    # Browsers on Windows may send the full client path.
    base_name = file_name.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, extension = base_name.rpartition(".")
    found = _EXTENSIONS.get(f".{extension.lower()}") if dot and stem else None
    if found is None:
        problems.add(
            None,
            None,
            f"cannot tell the format of {file_name!r} from its extension; use a .csv, .jsonl or .ndjson file",
        )
    return found


def _decode(content: bytes, problems: _Problems) -> str | None:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Decoding line by line reports every bad line, not just the first. Splitting the bytes first is safe:
    # the newline byte never occurs inside a UTF-8 multi-byte sequence.
    for number, chunk in enumerate(content.split(b"\n"), start=1):
        try:
            chunk.decode("utf-8")
        except UnicodeDecodeError as error:
            problems.add(
                number,
                None,
                f"not valid UTF-8 (byte 0x{chunk[error.start]:02x} at byte {error.start + 1} of the line); "
                "save the file as UTF-8",
            )
    return None


def _keep_number_text(text: str) -> str:
    # Decimal numbers keep the spelling of the file: a target written 3.50 must not become "3.5".
    return text


def _scalar_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        # JSON spelling, not Python's "True" / "False".
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _answers_from_json(value: object, line: int, field: str, problems: _Problems) -> tuple[str, ...] | None:
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.add(line, field, f"must be a list of strings, got {_kind(value)}")
        return None
    if len(value) > MAX_ACCEPTED_ANSWERS:
        problems.add(line, field, f"has {len(value):,} accepted answers; the limit is {MAX_ACCEPTED_ANSWERS}")
        return None
    answers: list[str] = []
    for position, item in enumerate(value, start=1):
        text = _scalar_text(item)
        if text is None:
            problems.add(line, field, f"item {position} must be text or a number, got {_kind(item)}")
            return None
        problem = text_problem(text)
        if problem is not None:
            problems.add(line, field, f"item {position} {problem}")
            return None
        if text.strip():
            answers.append(text.strip())
    return tuple(answers)


def _answers_from_cell(cell: str, line: int, field: str, problems: _Problems) -> tuple[str, ...] | None:
    stripped = cell.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        try:
            parsed: object = parse_json(stripped, parse_float=_keep_number_text)
        except JsonInputError:
            # Not JSON after all (e.g. "[A]|[B]"): fall back to the '|'-separated form.
            parsed = None
        if isinstance(parsed, list):
            return _answers_from_json(parsed, line, field, problems)
    return _answers_from_json([part.strip() for part in stripped.split("|") if part.strip()], line, field, problems)


def _check_input_names(pairs: Sequence[tuple[str, str]], role_fields: set[str], problems: _Problems) -> None:
    """Check (field, stored name) pairs: names become {{name}} template placeholders."""
    if len(pairs) > MAX_INPUT_FIELDS:
        problems.add(None, None, f"{len(pairs):,} input fields; the limit is {MAX_INPUT_FIELDS}")
        return
    seen: dict[str, str] = {}
    for field, name in pairs:
        if field in role_fields:
            problems.add(None, field, "is used both as an input and as the target, split or answers field")
        elif len(name) > MAX_NAME_CHARS or not IDENTIFIER.fullmatch(name):
            problems.add(
                None,
                field,
                f"{name!r} cannot be an input name: input names become {{{{name}}}} placeholders, so they "
                "must match [A-Za-z_][A-Za-z0-9_]*; rename it, or choose the inputs with --input-field",
            )
        elif name in seen:
            if seen[name] == field:
                problems.add(None, field, "is listed twice as an input field")
            else:
                problems.add(None, field, f"gives the same input name {name!r} as {seen[name]!r}")
        else:
            seen[name] = field


class _Rows:
    """Per-row checks shared by both formats, plus duplicate detection across rows."""

    def __init__(self, options: ImportOptions, problems: _Problems) -> None:
        self._problems = problems
        self._split_map = {value: _canonical_splits(splits) for value, splits in options.split_map.items()}
        for value, splits in self._split_map.items():
            if not splits:
                problems.add(None, None, f"--split-map sends {value!r} to no split")
        self._drop_duplicates = options.drop_duplicates
        self._reported_split_values: set[str] = set()
        # Rows without a split value are one problem, kept up to date in place as more such rows turn up.
        self._no_split_value_count = 0
        self._no_split_value_index: int | None = None
        self._no_split_value_first_line = 0
        self._first_line_by_content: dict[str, int] = {}
        self.rows: list[ParsedRow] = []
        self.dropped_duplicates: list[tuple[int, int]] = []

    def input_text(self, line: int, field: str, value: object) -> str | None:
        text = _scalar_text(value)
        if text is None:
            self._problems.add(line, field, f"must be text or a number, got {_kind(value)}")
            return None
        if not text.strip():
            self._problems.add(line, field, "is empty")
            return None
        problem = text_problem(text)
        if problem is not None:
            self._problems.add(line, field, problem)
            return None
        return text

    def target_text(self, line: int, field: str, value: object) -> str | None:
        text = self.input_text(line, field, value)
        return None if text is None else text.strip()

    def allowed_splits(self, line: int, field: str, found: bool, value: object) -> tuple[Split, ...] | None:
        """The splits a row may go to, from its split value; `found` is False when the row lacks the field."""
        text = "" if not found or value is None else _scalar_text(value)
        if text is None:
            self._problems.add(line, field, f"must be a split name, got {_kind(value)}")
            return None
        problem = text_problem(text, max_chars=MAX_NAME_CHARS)
        if problem is not None:
            self._problems.add(line, field, problem)
            return None
        text = text.strip()
        if not text:
            return self._no_split_value(line, field)
        if text in self._split_map:
            return self._split_map[text]
        alias = SPLIT_ALIASES.get(text.lower())
        if alias is not None:
            return (alias,)
        # One message per value: an unmapped value usually covers half the file.
        if text not in self._reported_split_values:
            self._reported_split_values.add(text)
            known = (
                "the split map knows " + ", ".join(repr(known) for known in self._split_map)
                if self._split_map
                else "no split map was given"
            )
            self._problems.add(
                line,
                field,
                f"unknown split value {text!r} (later rows with it are not listed); map it with --split-map "
                f"{text}=train+validation (any of {_CANONICAL_SPLIT_NAMES} joined by '+'); {known}",
            )
        return None

    def _no_split_value(self, line: int, field: str) -> tuple[Split, ...] | None:
        if NO_SPLIT_VALUE in self._split_map:
            return self._split_map[NO_SPLIT_VALUE]
        # One message for all of them: in files such as GSM8K most rows have none.
        self._no_split_value_count += 1
        if self._no_split_value_index is None:
            self._no_split_value_first_line = line
            self._problems.add(None, field, "")
            self._no_split_value_index = len(self._problems.items) - 1
        count = self._no_split_value_count
        rows_have = "1 row has" if count == 1 else f"{count:,} rows have"
        self._problems.items[self._no_split_value_index] = Problem(
            None,
            field,
            f"{rows_have} no split value (first: line {self._no_split_value_first_line}); map them with "
            f"--split-map {NO_SPLIT_VALUE}=SPLIT[+SPLIT...]",
        )
        return None

    def add(
        self,
        line: int,
        inputs: dict[str, str],
        expected_output: str,
        accepted_answers: tuple[str, ...],
        allowed_splits: tuple[Split, ...],
    ) -> None:
        first_line = self._first_line_by_content.setdefault(row_content_key(inputs, expected_output), line)
        if first_line != line:
            if self._drop_duplicates:
                self.dropped_duplicates.append((line, first_line))
            else:
                self._problems.add(
                    line, None, f"duplicates line {first_line} (pass --drop-duplicates to keep only the first)"
                )
            return
        self.rows.append(ParsedRow(line, inputs, expected_output, accepted_answers, allowed_splits))


# --- CSV -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CsvColumns:
    inputs: tuple[tuple[str, int], ...]
    target: int
    split: tuple[str, int] | None
    answers: tuple[str, int] | None


def _csv_records(text: str, delimiter: str, problems: _Problems) -> list[tuple[int, list[str]]]:
    """(line where the record starts, cells) for every record; physically empty lines are skipped."""
    # The csv module caps a cell at 128 KiB with an error of its own; lifting its cap above the text's length
    # (a cell is never longer) leaves one cell limit, MAX_TEXT_CHARS, for CSV and JSONL alike, checked per field.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    # strict=True turns stray quotes into errors instead of silently merging cells.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records: list[tuple[int, list[str]]] = []
    next_start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            where = "" if reader.line_num == next_start else f" (noticed on line {reader.line_num})"
            problems.add(next_start, None, f"malformed CSV in the record starting here: {error}{where}")
            break
        # A record with a quoted multi-line cell spans several physical lines, so the start is the line
        # after the previous record ended, not reader.line_num.
        start, next_start = next_start, reader.line_num + 1
        if cells:
            records.append((start, cells))
    return records


def _guess_delimiter(header_cell: str, delimiter: str) -> str | None:
    candidates = [guess for guess in _DELIMITER_GUESSES if guess != delimiter and guess in header_cell]
    return max(candidates, key=header_cell.count) if candidates else None


def _csv_columns(header: list[str], options: ImportOptions, problems: _Problems) -> _CsvColumns | None:
    if len(header) == 1:
        guess = _guess_delimiter(header[0], options.delimiter)
        if guess is not None:
            looks_like = f"the header has a single column but looks like {guess!r}-delimited"
            problems.add(None, None, f"{looks_like}; pass --delimiter {guess!r}")
            return None
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        if not name:
            problems.add(None, None, f"column {index + 1} of the header has no name")
        elif name in positions:
            problems.add(None, name, f"duplicate column name (columns {positions[name] + 1} and {index + 1})")
        else:
            positions[name] = index
    found = ", ".join(repr(name) for name in positions) or "none"

    def missing(field: str, option: str) -> None:
        problems.add(None, field, f"column is missing; columns found: {found}; check {option}")

    target_field = options.target_field
    if target_field not in positions:
        problems.add(
            None,
            target_field,
            f"column is missing; columns found: {found}; name the target column with --target-field",
        )
    split_field = options.split_field
    if split_field is None:
        split_field = "split" if "split" in positions else None
    elif split_field not in positions:
        missing(split_field, "--split-field")
    answers_field = options.answers_field
    if answers_field is None:
        answers_field = "accepted_answers" if "accepted_answers" in positions else None
    elif answers_field not in positions:
        missing(answers_field, "--answers-field")
    if split_field is None and options.split_map:
        problems.add(None, None, _SPLIT_MAP_WITHOUT_COLUMN.format(looked_for="'split'"))
    role_fields = {name for name in (target_field, split_field, answers_field) if name is not None}

    if options.input_fields:
        input_fields = options.input_fields
        for name in input_fields:
            if name not in positions:
                missing(name, "--input-field")
        for name in positions:
            if name not in role_fields and name not in input_fields:
                problems.add(
                    None,
                    name,
                    "unknown column; add it with --input-field to use it as an input, or remove it",
                )
    else:
        input_fields = tuple(name for name in positions if name not in role_fields)
        if not input_fields:
            problems.add(None, None, f"no input columns: the only columns are {found}")
    _check_input_names([(name, name) for name in input_fields], role_fields, problems)

    if problems.items:
        return None
    return _CsvColumns(
        inputs=tuple((name, positions[name]) for name in input_fields),
        target=positions[target_field],
        split=None if split_field is None else (split_field, positions[split_field]),
        answers=None if answers_field is None else (answers_field, positions[answers_field]),
    )


def _parse_csv(text: str, options: ImportOptions, problems: _Problems) -> ParsedDataset:
    if len(options.delimiter) != 1 or options.delimiter in '"\r\n':
        problems.add(
            None,
            None,
            f"the delimiter must be one character other than a quote or newline, got {options.delimiter!r}",
        )
        raise problems.refuse()
    records = _csv_records(text, options.delimiter, problems)
    if not records:
        raise problems.refuse()
    (_, raw_header), data = records[0], records[1:]
    if len(data) > options.max_rows:
        problems.add(None, None, f"file has {len(data):,} rows; the limit is {options.max_rows:,}")
        raise problems.refuse()
    if not data and not problems.items:
        problems.add(None, None, "file has a header row but no data rows")
    # Spreadsheet exports often pad header names with spaces.
    header = [name.strip() for name in raw_header]
    columns = _csv_columns(header, options, problems)
    # Row messages after a bad header would mostly repeat the header problem.
    if columns is None or problems.items:
        raise problems.refuse()

    rows = _Rows(options, problems)
    target_field = options.target_field
    for line, cells in data:
        if not any(cell.strip() for cell in cells):
            problems.add(line, None, "row is empty")
            continue
        if len(cells) != len(header):
            problems.add(line, None, f"row has {len(cells)} cells but the header has {len(header)} columns")
            continue
        inputs: dict[str, str] = {}
        for name, index in columns.inputs:
            value = rows.input_text(line, name, cells[index])
            if value is not None:
                inputs[name] = value
        target = rows.target_text(line, target_field, cells[columns.target])
        allowed: tuple[Split, ...] | None = ALL_SPLITS
        if columns.split is not None:
            split_field, split_index = columns.split
            allowed = rows.allowed_splits(line, split_field, True, cells[split_index])
        answers: tuple[str, ...] | None = ()
        if columns.answers is not None:
            answers_field, answers_index = columns.answers
            answers = _answers_from_cell(cells[answers_index], line, answers_field, problems)
        complete = len(inputs) == len(columns.inputs)
        if complete and target is not None and allowed is not None and answers is not None:
            rows.add(line, inputs, target, answers, allowed)

    problems.raise_if_any()
    input_fields = tuple(name for name, _ in columns.inputs)
    return ParsedDataset(
        rows=rows.rows,
        input_fields=input_fields,
        file_format="csv",
        dropped_duplicates=tuple(rows.dropped_duplicates),
    )


# --- JSONL -----------------------------------------------------------------------------------------------


def _lookup(obj: Mapping[str, object], path: str) -> tuple[bool, object]:
    current: object = obj
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            return False, None
        current = current[part]
    return True, current


def _first_present(obj: Mapping[str, object], candidates: Sequence[str]) -> str | None:
    return next((path for path in candidates if _lookup(obj, path)[0]), None)


def _jsonl_objects(text: str, problems: _Problems) -> list[tuple[int, dict[str, object]]]:
    objects: list[tuple[int, dict[str, object]]] = []
    # Not str.splitlines(): it also splits on U+2028 and friends, which JSON strings may contain raw.
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            value: object = parse_json(raw, parse_float=_keep_number_text)
        except JsonInputError as error:
            problems.add(number, error.where or None, error.reason)
            continue
        if not isinstance(value, dict):
            problems.add(number, None, f"expected a JSON object, got {_kind(value)}")
            continue
        objects.append((number, value))
    return objects


def _parse_jsonl(text: str, options: ImportOptions, problems: _Problems) -> ParsedDataset:
    row_count = sum(1 for raw in text.split("\n") if raw.strip())
    if row_count > options.max_rows:
        problems.add(None, None, f"file has {row_count:,} rows; the limit is {options.max_rows:,}")
        raise problems.refuse()
    objects = _jsonl_objects(text, problems)
    if not objects:
        raise problems.refuse()

    first_line, first = objects[0]
    target_field = options.target_field
    split_field = options.split_field
    if split_field is None:
        split_field = _first_present(first, ("meta.split", "split"))
    answers_field = options.answers_field
    if answers_field is None:
        answers_field = _first_present(first, ("meta.answers", "accepted_answers"))
    if split_field is None and options.split_map:
        problems.add(
            first_line, None, _SPLIT_MAP_WITHOUT_COLUMN.format(looked_for="'meta.split' and 'split' in the first row")
        )
    role_fields = {name for name in (target_field, split_field, answers_field) if name is not None}
    # "meta" carries provenance (ids, original splits), never model inputs.
    role_keys = {name.split(".", 1)[0] for name in role_fields} | {"meta"}

    if options.input_fields:
        input_paths = options.input_fields
        allowed_keys = role_keys | {path.split(".", 1)[0] for path in input_paths}
        extra_key_message = "unknown field; add it with --input-field to use it as an input, or remove it"
    else:
        input_paths = tuple(key for key in first if key not in role_keys)
        allowed_keys = role_keys | set(input_paths)
        extra_key_message = (
            f"unexpected key: the first row (line {first_line}) does not have it, "
            "and the first row's keys set the input fields"
        )
        if not input_paths:
            problems.add(
                first_line,
                None,
                "no input fields: the row has no keys besides the target, split and meta",
            )
    # A dotted input such as meta.x is stored under its last segment, the name templates use.
    inputs_by_path = [(path, path.rsplit(".", 1)[-1]) for path in input_paths]
    _check_input_names(inputs_by_path, role_fields, problems)

    rows = _Rows(options, problems)
    answers_seen = False
    for line, obj in objects:
        for key in obj:
            if key not in allowed_keys:
                problems.add(line, key, extra_key_message)
        inputs: dict[str, str] = {}
        for path, name in inputs_by_path:
            found, value = _lookup(obj, path)
            if not found:
                problems.add(line, path, "is missing")
                continue
            text_value = rows.input_text(line, path, value)
            if text_value is not None:
                inputs[name] = text_value
        found, value = _lookup(obj, target_field)
        target = rows.target_text(line, target_field, value) if found else None
        if not found:
            problems.add(line, target_field, "is missing")
        allowed: tuple[Split, ...] | None = ALL_SPLITS
        if split_field is not None:
            found, value = _lookup(obj, split_field)
            allowed = rows.allowed_splits(line, split_field, found, value)
        answers: tuple[str, ...] | None = ()
        if answers_field is not None:
            # Accepted answers are optional per row; a row without them is scored against the target alone.
            found, value = _lookup(obj, answers_field)
            if found:
                answers_seen = True
                answers = _answers_from_json(value, line, answers_field, problems)
        complete = len(inputs) == len(inputs_by_path)
        if complete and target is not None and allowed is not None and answers is not None:
            rows.add(line, inputs, target, answers, allowed)

    if options.answers_field is not None and not answers_seen:
        problems.add(None, options.answers_field, "is not in any row; check --answers-field")
    problems.raise_if_any()
    input_fields = tuple(name for _, name in inputs_by_path)
    return ParsedDataset(
        rows=rows.rows,
        input_fields=input_fields,
        file_format="jsonl",
        dropped_duplicates=tuple(rows.dropped_duplicates),
    )


@dataclass(frozen=True)
class FilePreview:
    """The first rows of an uploaded file, for choosing how to map its columns before importing it."""

    file_format: str
    columns: tuple[str, ...]  # CSV header cells; JSONL keys of the first rows, nested ones as dotted paths
    rows: tuple[dict[str, str], ...]
    row_count: int  # records in the whole file (non-empty lines for JSONL)


def _flattened(obj: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in obj.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat |= _flattened(value, prefix=f"{path}.")
        else:
            flat[path] = value
    return flat


def _preview_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def preview_dataset_file(
    *, file_name: str, content: bytes, max_bytes: int, delimiter: str = ",", rows: int = 10
) -> FilePreview:
    """The columns and first rows, read leniently (a bad row further down is the import's to report); raises
    DatasetFileError when the file cannot be read at all (format, encoding, size, nothing in it)."""
    problems = _Problems()
    if len(content) > max_bytes:
        problems.add(None, None, f"file is {len(content):,} bytes; the limit is {max_bytes:,} bytes")
        raise problems.refuse()
    file_format = _resolve_format(file_name, None, problems)
    text = _decode(content.removeprefix(_UTF8_BOM), problems)
    if file_format is None or text is None:
        raise problems.refuse()
    if file_format == "csv":
        records = _csv_records(text, delimiter, problems)
        if not records:
            problems.add(None, None, "file is empty" if not problems.items else "no readable CSV record")
            raise problems.refuse()
        header = tuple(records[0][1])
        shown = tuple(dict(zip(header, cells, strict=False)) for _, cells in records[1 : rows + 1])
        return FilePreview("csv", header, shown, len(records) - 1)
    objects = _jsonl_objects("\n".join(text.split("\n")[: rows * 4]), problems)[:rows]
    if not objects:
        if not problems.items:
            problems.add(None, None, "file is empty")
        raise problems.refuse()
    flat_rows = [_flattened(obj) for _, obj in objects]
    columns = tuple(dict.fromkeys(path for flat in flat_rows for path in flat))
    shown = tuple({path: _preview_text(value) for path, value in flat.items()} for flat in flat_rows)
    return FilePreview("jsonl", columns, shown, sum(1 for line in text.split("\n") if line.strip()))
