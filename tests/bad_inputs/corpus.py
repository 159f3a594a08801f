"""The bad-input corpus: malformed values as a hostile or careless user sends them, with the error each must give.

Each case names the surface it goes through (a command, or an admin form over HTTP), the input, and a regular
expression the error must match. tests/bad_inputs/test_corpus.py runs every case against a database holding
one team, one prompt and one dataset, and checks that the error is given, in bounded time, with nothing written.
Add a case here whenever a new malformed input is found; large inputs are built by functions, not stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

Surface = str  # "import_dataset", "create_prompt", "evaluate", "optimize", "admin_version", "admin_import"


@dataclass(frozen=True)
class BadInput:
    name: str
    surface: Surface
    error: str  # a regular expression searched for in the error message
    args: tuple[str, ...] = ()  # command options after the defaults the test supplies
    file: Callable[[], bytes] | None = None  # dataset file content (import surfaces)
    file_name: str = "data.jsonl"
    form: dict[str, str] = field(default_factory=dict)  # admin version form fields that replace the defaults
    # (option, file content) pairs: the test writes each file and passes its path with the option.
    option_files: tuple[tuple[str, bytes], ...] = ()


def _jsonl(*rows: str) -> Callable[[], bytes]:
    return lambda: ("\n".join(rows) + "\n").encode()


def _csv(text: str) -> Callable[[], bytes]:
    return lambda: text.encode()


GOOD_ROWS = '{"text": "fine", "target": "yes"}\n{"text": "bad", "target": "no"}'


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _many_keys(count: int) -> Callable[[], bytes]:
    return lambda: (json.dumps({**{f"field_{i}": "x" for i in range(count)}, "target": "y"}) + "\n").encode()


def _long_value(chars: int, *, kind: str) -> Callable[[], bytes]:
    if kind == "csv":
        return lambda: ("text,target\n" + "a" * chars + ",yes\n").encode()
    return lambda: (json.dumps({"text": "a" * chars, "target": "yes"}) + "\n").encode()


def _answers(count: int) -> Callable[[], bytes]:
    return lambda: (json.dumps({"text": "a", "target": "b", "meta": {"answers": ["x"] * count}}) + "\n").encode()


IMPORT_CASES = [
    BadInput(
        "a lone surrogate in a JSONL value",
        "import_dataset",
        r"line 1.*unpaired surrogate U\+D800",
        file=_jsonl('{"text": "caf\\ud800", "target": "yes"}'),
    ),
    BadInput(
        "NUL in a JSONL input",
        "import_dataset",
        r"line 1, field 'text': contains the control character U\+0000",
        file=_jsonl('{"text": "a\\u0000b", "target": "yes"}'),
    ),
    BadInput(
        "a bell character in a JSONL target",
        "import_dataset",
        r"field 'target': .*U\+0007",
        file=_jsonl('{"text": "a", "target": "ye\\u0007s"}'),
    ),
    BadInput(
        "a raw NUL byte in a CSV cell",
        "import_dataset",
        r"line 2, field 'text': .*U\+0000",
        file=_csv("text,target\na\x00b,yes\n"),
        file_name="data.csv",
    ),
    BadInput(
        "an escape character in a CSV cell",
        "import_dataset",
        r"line 2, field 'target': .*U\+001B",
        file=_csv("text,target\nab,y\x1bes\n"),
        file_name="data.csv",
    ),
    BadInput(
        "a C1 control character (mis-decoded export)",
        "import_dataset",
        r"U\+0085",
        file=_jsonl('{"text": "a\\u0085b", "target": "yes"}'),
    ),
    BadInput(
        "a key repeated in one JSONL object",
        "import_dataset",
        r"line 1: the key 'text' appears twice",
        file=_jsonl('{"text": "a", "text": "b", "target": "yes"}'),
    ),
    BadInput(
        "NaN in JSONL",
        "import_dataset",
        r"line 1: NaN is not a JSON number",
        file=_jsonl('{"text": NaN, "target": "yes"}'),
    ),
    BadInput(
        "Infinity in JSONL",
        "import_dataset",
        r"Infinity is not a JSON number",
        file=_jsonl('{"text": "a", "target": Infinity}'),
    ),
    BadInput(
        "-Infinity in JSONL",
        "import_dataset",
        r"-Infinity is not a JSON number",
        file=_jsonl('{"text": "a", "target": "b", "meta": {"x": -Infinity}}'),
    ),
    BadInput(
        "JSONL nested 100,000 deep",
        "import_dataset",
        r"line 1: is nested deeper than 32 levels",
        file=lambda: ('{"text": "a", "target": "b", "meta": ' + _nested(100_000) + "}\n").encode(),
    ),
    BadInput(
        "JSONL nested 40 deep (inside Python's limit)",
        "import_dataset",
        r"nested deeper than 32 levels",
        file=lambda: ('{"text": "a", "target": "b", "meta": ' + _nested(40) + "}\n").encode(),
    ),
    BadInput(
        "a JSONL row with 100,000 input columns",
        "import_dataset",
        r"100,000 input fields; the limit is 100",
        file=_many_keys(100_000),
    ),
    BadInput(
        "a CSV header with 1,000 input columns",
        "import_dataset",
        r"1,000 input fields; the limit is 100",
        file=_csv(",".join(f"c{i}" for i in range(1000)) + ",target\n" + ",".join("x" * 1001) + "\n"),
        file_name="data.csv",
    ),
    BadInput(
        "a 10 MB JSONL field",
        "import_dataset",
        r"is 10,485,760 characters long; the limit is 100,000",
        file=_long_value(10 * 1024 * 1024, kind="jsonl"),
    ),
    BadInput(
        "a 200,000-character CSV cell",
        "import_dataset",
        r"field 'text': is 200,000 characters long",
        file=_long_value(200_000, kind="csv"),
        file_name="data.csv",
    ),
    BadInput(
        "a CSV cell just over the csv module's old cap",
        "import_dataset",
        r"is 131,073 characters long",
        file=_long_value(131_073, kind="csv"),
        file_name="data.csv",
    ),
    BadInput(
        "101 accepted answers", "import_dataset", r"field 'meta.answers': has 101 accepted answers", file=_answers(101)
    ),
    BadInput(
        "NUL in an accepted answer",
        "import_dataset",
        r"field 'meta.answers\[0\]': contains the control character U\+0000",
        file=_jsonl('{"text": "a", "target": "b", "meta": {"answers": ["x\\u0000"]}}'),
    ),
    BadInput(
        "a JSONL key of 300 characters",
        "import_dataset",
        r"has a key that is 300 characters long",
        file=_jsonl(json.dumps({"t" * 300: "a", "target": "b"})),
    ),
    BadInput(
        "--split-map for a CSV without a split column",
        "import_dataset",
        r"--split-map was given, but the file has no split column",
        args=("--split-map", "induce=train+validation,execute=test"),
        file=_csv("text,target\na,b\n"),
        file_name="data.csv",
    ),
    BadInput(
        "--split-map for a JSONL file without a split key",
        "import_dataset",
        r"--split-map was given, but the file has no split column",
        args=("--split-map", "induce=train"),
        file=_jsonl(GOOD_ROWS),
    ),
    BadInput(
        "--split-ratios nan,1,1",
        "import_dataset",
        r"split ratios: nan,1.0,1.0 must be three finite",
        args=("--split-ratios", "nan,1,1"),
        file=_jsonl(GOOD_ROWS),
    ),
    BadInput(
        "--split-ratios inf,1,1",
        "import_dataset",
        r"split ratios: inf,1.0,1.0 must be",
        args=("--split-ratios", "inf,1,1"),
        file=_jsonl(GOOD_ROWS),
    ),
    BadInput(
        "--split-ratios 0,0,0",
        "import_dataset",
        r"not all zero",
        args=("--split-ratios", "0,0,0"),
        file=_jsonl(GOOD_ROWS),
    ),
    BadInput(
        "--split-ratios -1,1,1",
        "import_dataset",
        r"non-negative",
        args=("--split-ratios=-1,1,1",),
        file=_jsonl(GOOD_ROWS),
    ),
    BadInput(
        "--seed -1",
        "import_dataset",
        r"seed: must be a whole number from 0 to 2,147,483,647",
        args=("--seed", "-1"),
        file=_jsonl(GOOD_ROWS),
    ),
    BadInput(
        "--seed beyond a 32-bit column",
        "import_dataset",
        r"seed: must be a whole number",
        args=("--seed", str(2**40)),
        file=_jsonl(GOOD_ROWS),
    ),
    BadInput(
        "a dataset name with NUL",
        "import_dataset",
        r"name: contains the control character U\+0000",
        args=("--name", "Bad\x00name"),
        file=_jsonl(GOOD_ROWS),
    ),
    BadInput(
        "a Latin-1 file",
        "import_dataset",
        r"not valid UTF-8",
        file=lambda: "text,target\ncaf\xe9,yes\n".encode("latin-1"),
        file_name="data.csv",
    ),
    BadInput(
        "an unclosed CSV quote",
        "import_dataset",
        r"malformed CSV",
        file=_csv('text,target\n"open,yes\nb,no\n'),
        file_name="data.csv",
    ),
    BadInput(
        "a JSONL line that is a list",
        "import_dataset",
        r"expected a JSON object, got a list",
        file=_jsonl('["text", "target"]'),
    ),
    BadInput("an empty file", "import_dataset", r"file is empty", file=lambda: b"\n\n"),
]

LONG_TEMPLATE = "{{text}} " + "x" * (1024 * 1024)

PROMPT_CASES = [
    BadInput(
        "--temperature nan", "create_prompt", r"temperature: must be a finite number", args=("--temperature", "nan")
    ),
    BadInput(
        "--temperature inf", "create_prompt", r"temperature: must be a finite number", args=("--temperature", "inf")
    ),
    BadInput(
        "--temperature -1", "create_prompt", r"temperature: must be between 0 and 2", args=("--temperature", "-1")
    ),
    BadInput(
        "--max-tokens 0",
        "create_prompt",
        r"max_tokens: must be a whole number from 1 to 32768",
        args=("--max-tokens", "0"),
    ),
    BadInput(
        "a 1 MB template",
        "create_prompt",
        r"template: is 1,048,585 characters long; the limit is 100,000",
        file=lambda: LONG_TEMPLATE.encode(),
    ),
    BadInput(
        "a template of 32 KB of '{{'",
        "create_prompt",
        r"template: '\{\{\{\{.*' is not a placeholder",
        file=lambda: ("{{" * 16_384).encode(),
    ),
    BadInput(
        "a template of 90 KB of '{{' after a valid placeholder",
        "create_prompt",
        r"is not a placeholder",
        file=lambda: ("{{text}} " + "{{" * 45_000).encode(),
    ),
    BadInput(
        "NUL in the template",
        "create_prompt",
        r"template: contains the control character U\+0000",
        file=lambda: b"Review: {{text}}\x00",
    ),
    BadInput(
        "a system instruction with a placeholder",
        "create_prompt",
        r"system_instruction: '\{\{text\}\}' looks like template syntax",
        option_files=(("--system-file", b"Classify {{text}} please"),),
    ),
    BadInput(
        "a system instruction with Jinja logic",
        "create_prompt",
        r"system_instruction: .*template syntax",
        option_files=(("--system-file", b"{% if x %}Be brief{% endif %}"),),
    ),
    BadInput(
        "10,000 output choices",
        "create_prompt",
        r"output_choices: has 10,000 choices; the limit is 100",
        args=("--choices", ",".join(f"label{i}" for i in range(10_000))),
    ),
    BadInput(
        "choices that differ only in case",
        "create_prompt",
        r"choices 'Yes' and 'yes' differ only in letter case or spacing",
        args=("--choices", "Yes,yes,no"),
    ),
    BadInput(
        "a 300-character choice",
        "create_prompt",
        r"is 300 characters long; the limit is 200",
        args=("--choices", "a" * 300 + ",b"),
    ),
    BadInput(
        "a prompt name with NUL",
        "create_prompt",
        r"name: contains the control character U\+0000",
        args=("--name", "Bad\x00prompt"),
    ),
    BadInput(
        "a template file that is not UTF-8",
        "create_prompt",
        r"is not UTF-8 text",
        file=lambda: "Review: {{text}} caf\xe9".encode("latin-1"),
    ),
    BadInput("an empty template", "create_prompt", r"template: must not be empty", file=lambda: b"   "),
]

EVALUATE_CASES = [
    BadInput(
        "--metric nested 5,000 deep",
        "evaluate",
        r"--metric: is nested deeper than 32 levels",
        args=("--metric", '{"name": "exact_match", "x": ' + _nested(5000) + "}"),
    ),
    BadInput(
        "--metric with a repeated key",
        "evaluate",
        r"--metric: the key 'name' appears twice",
        args=("--metric", '{"name": "regex", "name": "exact_match"}'),
    ),
    BadInput(
        "--metric with NaN",
        "evaluate",
        r"--metric: NaN is not a JSON number",
        args=("--metric", '{"name": "numeric", "tolerance": NaN}'),
    ),
    BadInput(
        "--metric of 70,000 characters",
        "evaluate",
        r"--metric: is 70,0\d\d characters of JSON",
        args=("--metric", '{"name": "exact_match", "x": "' + "a" * 70_000 + '"}'),
    ),
    BadInput(
        "a regex metric with look-behind",
        "evaluate",
        r"pattern: .*invalid perl operator: \(\?<=",
        args=("--metric", '{"name": "regex", "pattern": "(?<=a)b"}'),
    ),
    BadInput(
        "a regex metric with the verbose flag",
        "evaluate",
        r"flag 'x' \(verbose\) is not supported",
        args=("--metric", '{"name": "regex", "pattern": "a", "flags": "x"}'),
    ),
    BadInput(
        "a 5,000-character regex",
        "evaluate",
        r"pattern: is 5,000 characters long; the limit is 2,000",
        args=("--metric", json.dumps({"name": "regex", "pattern": "a" * 5000})),
    ),
    BadInput(
        "a schema metric whose pattern needs backtracking",
        "evaluate",
        r"is not a \"regex\"",
        args=("--metric", json.dumps({"name": "json_schema", "schema": {"pattern": "(a)\\1"}})),
    ),
    BadInput(
        "--max-calls 0",
        "evaluate",
        r"budget.max_calls: Input should be greater than or equal to 1",
        args=("--max-calls", "0"),
    ),
    BadInput(
        "--json into a folder that does not exist",
        "evaluate",
        r"--json: the folder .* does not exist",
        args=("--json", "/nonexistent-folder/out.json"),
    ),
    BadInput("--json naming a folder", "evaluate", r"--json: .* is a folder", args=("--json", ".")),
]

OPTIMIZE_CASES = [
    BadInput(
        "--config nested 5,000 deep",
        "optimize",
        r"--config: is nested deeper than 32 levels",
        args=("--config", '{"budget": ' + _nested(5000) + "}"),
    ),
    BadInput(
        "--config with Infinity",
        "optimize",
        r"--config: Infinity is not a JSON number",
        args=("--config", '{"min_gain": Infinity}'),
    ),
    BadInput(
        "--config that is not an object", "optimize", r"--config: must be a JSON object", args=("--config", "[1, 2]")
    ),
    BadInput(
        "--max-calls 0",
        "optimize",
        r"budget.max_calls: Input should be greater than or equal to 1",
        args=("--max-calls", "0"),
    ),
    BadInput(
        "--target-score nan",
        "optimize",
        r"target_score: is nan; only finite numbers are allowed",
        args=("--target-score", "nan"),
    ),
    BadInput(
        "--max-cost inf",
        "optimize",
        r"budget.max_cost_usd: is inf; only finite numbers are allowed",
        args=("--max-cost", "inf"),
    ),
    BadInput(
        "--seed beyond a 32-bit column",
        "optimize",
        r"seed: Input should be less than or equal to 2147483647",
        args=("--seed", str(2**40)),
    ),
    BadInput(
        "a task model name of 10,000 characters",
        "optimize",
        r"task_model: String should have at most 200",
        args=("--task-model", "m" * 10_000),
    ),
    BadInput(
        "--json into a folder that does not exist",
        "optimize",
        r"--json: the folder .* does not exist",
        args=("--json", "/nonexistent-folder/report.json"),
    ),
]

ADMIN_VERSION_CASES = [
    BadInput(
        "demonstrations nested 100,000 deep",
        "admin_version",
        r"is nested deeper than 32 levels",
        form={"demonstrations": _nested(100_000)},
    ),
    BadInput(
        "65 demonstrations",
        "admin_version",
        r"has 65 entries; the limit is 64",
        form={"demonstrations": json.dumps([{"inputs": {"text": f"t{i}"}, "output": "o"} for i in range(65)])},
    ),
    BadInput(
        "demonstrations with NaN",
        "admin_version",
        r"NaN is not a JSON number",
        form={"demonstrations": '[{"inputs": {"text": "a"}, "output": NaN}]'},
    ),
    BadInput(
        "a demonstration with NUL",
        "admin_version",
        r"demonstrations: .*\[0\].inputs.text: contains the control character U\+0000",
        form={"demonstrations": '[{"inputs": {"text": "a\\u0000"}, "output": "b"}]'},
    ),
    BadInput(
        "an output schema with a back-reference",
        "admin_version",
        r"output_schema.*is not a \"regex\"",
        form={"output_type": "json", "output_schema": json.dumps({"type": "string", "pattern": "(a)\\1"})},
    ),
    BadInput(
        "an output schema with a remote $ref",
        "admin_version",
        r"points outside the schema",
        form={"output_type": "json", "output_schema": '{"$ref": "https://example.com/s.json"}'},
    ),
    BadInput(
        "a 1 MB template in the admin",
        "admin_version",
        r"is 1,048,585 characters long",
        form={"template": LONG_TEMPLATE},
    ),
    BadInput(
        "a system instruction with a placeholder in the admin",
        "admin_version",
        r"looks like template syntax",
        form={"system_instruction": "Use {{text}}"},
    ),
    BadInput("temperature nan in the admin", "admin_version", r"temperature", form={"temperature": "nan"}),
]

ADMIN_IMPORT_CASES = [
    BadInput(
        "a lone surrogate uploaded in the admin",
        "admin_import",
        r"unpaired surrogate U\+D800",
        file=_jsonl('{"text": "caf\\ud800", "target": "yes"}'),
    ),
    BadInput(
        "a repeated key uploaded in the admin",
        "admin_import",
        r"the key 'text' appears twice",
        file=_jsonl('{"text": "a", "text": "b", "target": "yes"}'),
    ),
]

CASES = IMPORT_CASES + PROMPT_CASES + EVALUATE_CASES + OPTIMIZE_CASES + ADMIN_VERSION_CASES + ADMIN_IMPORT_CASES
