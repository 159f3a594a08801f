"""The limits on every user-supplied text and JSON value, and the checks that enforce them.

Plain Python. The dataset importer, the version, prompt and dataset services, the metric and run config parsers
and the form fields all call these, so every surface (commands, admin, API, web UI) refuses the same input with
the same message, in time and memory bounded by the limits themselves. The README lists them.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any

from promptopt.errors import InvalidInputError

# One text value: a dataset cell (input, target, accepted answer), a template, a system instruction, a
# demonstration's input or output. The CSV reader used to cap cells at 128 KiB while JSONL had no cap;
# this one limit now applies to both.
MAX_TEXT_CHARS = 100_000
# A version's whole content (template, instruction, demonstrations, choices, schema) as JSON.
MAX_VERSION_CHARS = 200_000
# Input fields of a dataset row (CSV columns or JSONL keys) and inputs of a demonstration.
MAX_INPUT_FIELDS = 100
MAX_ACCEPTED_ANSWERS = 100
MAX_DEMONSTRATIONS = 64
MAX_CHOICES = 100
MAX_CHOICE_CHARS = 200
# Names, slugs of models, providers and other one-line settings.
MAX_NAME_CHARS = 200
# Nesting of any JSON value a user sends: a JSONL row, a metric or run config, a schema, demonstrations.
MAX_JSON_DEPTH = 32
# A metric or run config, or an output schema, as JSON text.
MAX_CONFIG_CHARS = 65_536
# A regular expression (metric pattern or schema pattern); matching is linear-time whatever its length.
MAX_PATTERN_CHARS = 2_000
# Seeds are stored in 32-bit integer columns.
MAX_SEED = 2**31 - 1

# Tab, line feed and carriage return are ordinary text; every other control character (C0, DEL, C1) is
# invisible, usually the sign of a broken export, and NUL is refused by PostgreSQL outright. Lone surrogates
# (only reachable through JSON escapes such as "\ud800") are not Unicode text and cannot be encoded at all.
_FORBIDDEN_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _describe_character(character: str) -> str:
    code = ord(character)
    if 0xD800 <= code <= 0xDFFF:
        return f"an unpaired surrogate U+{code:04X} (not valid Unicode; check the JSON escapes)"
    name = unicodedata.name(character, "") or {0: "NUL"}.get(code, "control character")
    return f"the control character U+{code:04X} ({name})"


def text_problem(value: str, *, max_chars: int = MAX_TEXT_CHARS) -> str | None:
    """Why a text value cannot be accepted, or None. Linear in the length, which is checked first."""
    if len(value) > max_chars:
        return f"is {len(value):,} characters long; the limit is {max_chars:,}"
    found = _FORBIDDEN_CHARACTER.search(value)
    if found is not None:
        return f"contains {_describe_character(found.group())} at character {found.start() + 1}"
    return None


def _path_text(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def json_value_problem(
    value: Any, *, max_depth: int = MAX_JSON_DEPTH, max_chars: int = MAX_TEXT_CHARS
) -> tuple[str, str] | None:
    """(where, why) a parsed JSON value cannot be accepted, or None: too deep, a bad key or text, NaN or ±inf.

    `where` is a path such as `demonstrations[2].inputs.text` ("" for the value itself). Iterative, so a value
    nested far beyond the limit costs no recursion, and each node is visited once.
    """
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if len(path) > max_depth:
            return "", f"is nested deeper than {max_depth} levels"
        if isinstance(node, str):
            problem = text_problem(node, max_chars=max_chars)
            if problem is not None:
                return _path_text(path), problem
        elif isinstance(node, float) and not math.isfinite(node):
            return _path_text(path), f"is {node}; only finite numbers are allowed"
        elif isinstance(node, dict):
            for key, item in node.items():
                if not isinstance(key, str):
                    return _path_text(path), f"has the key {key!r}, which is not text"
                problem = text_problem(key, max_chars=MAX_NAME_CHARS)
                if problem is not None:
                    return _path_text(path), f"has a key that {problem}"
                stack.append((item, (*path, key)))
        elif isinstance(node, list | tuple):
            stack.extend((item, (*path, index)) for index, item in enumerate(node))
    return None


def describe_json_problem(found: tuple[str, str]) -> str:
    where, problem = found
    return f"{where}: {problem}" if where else problem


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # The default keeps the last of repeated keys without a word; a repeated key is almost always a mistake.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"the key {key!r} appears twice in one object")
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity, which JSON itself (and PostgreSQL's jsonb) does not allow.
    raise ValueError(f"{name} is not a JSON number; only finite numbers are allowed")


def json_text_problem(text: str, *, max_chars: int) -> str | None:
    """Why a JSON text is refused before it is parsed (its size), or None."""
    if len(text) > max_chars:
        return f"is {len(text):,} characters of JSON; the limit is {max_chars:,}"
    return None


class JsonInputError(ValueError):
    """Strict parsing refused a JSON text; `where` is the path inside it ("" for the whole), `reason` why."""

    def __init__(self, reason: str, where: str = "") -> None:
        self.reason = reason
        self.where = where
        super().__init__(describe_json_problem((where, reason)))


def parse_json(
    text: str,
    *,
    max_depth: int = MAX_JSON_DEPTH,
    max_value_chars: int = MAX_TEXT_CHARS,
    parse_float: Callable[[str], Any] | None = None,
) -> Any:
    """Parse JSON strictly: no repeated keys, no NaN or Infinity, bounded nesting, no control characters.

    Raises JsonInputError saying what is wrong and where (callers add the line or field). Callers bound the
    text's size first (json_text_problem), which bounds the time and memory this takes.
    """
    try:
        value = json.loads(
            text, object_pairs_hook=_unique_keys, parse_constant=_refuse_constant, parse_float=parse_float
        )
    except json.JSONDecodeError as error:
        where = f"column {error.colno}" if error.lineno == 1 else f"line {error.lineno}, column {error.colno}"
        raise JsonInputError(f"malformed JSON: {error.msg} ({where})") from None
    except RecursionError:
        # The C parser gives up near Python's recursion limit, long before memory is at risk.
        raise JsonInputError(f"is nested deeper than {max_depth} levels") from None
    except ValueError as error:  # a repeated key or a NaN / Infinity, from the hooks above
        raise JsonInputError(str(error)) from None
    found = json_value_problem(value, max_depth=max_depth, max_chars=max_value_chars)
    if found is not None:
        raise JsonInputError(found[1], found[0])
    return value


def read_json_option(text: str, *, field: str, max_chars: int = MAX_CONFIG_CHARS) -> Any:
    """A JSON value given as text by a user (a command option, a form box), or InvalidInputError naming it."""
    problem = json_text_problem(text, max_chars=max_chars)
    if problem is not None:
        raise InvalidInputError(f"{field}: {problem}")
    try:
        return parse_json(text)
    except JsonInputError as error:
        raise InvalidInputError(f"{field}: {error}") from None


def json_value_size_problem(value: Any, *, max_chars: int = MAX_CONFIG_CHARS) -> str | None:
    """Why an already-parsed JSON value is refused (shape, then size as JSON text), or None."""
    found = json_value_problem(value)
    if found is not None:
        return describe_json_problem(found)
    # Serialising is safe once the depth is known to be bounded; it measures the size as JSON text.
    size = len(json.dumps(value, ensure_ascii=False))
    if size > max_chars:
        return f"is {size:,} characters as JSON; the limit is {max_chars:,}"
    return None


def check_seed(seed: int, *, field: str = "seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise InvalidInputError(f"{field}: must be a whole number from 0 to {MAX_SEED:,}")
    return seed


# A row id or number as text: ASCII digits only (str.isdigit() also accepts "²", which int() refuses) and short
# enough for a 64-bit column (a longer one overflows the database driver before it can answer "not found").
_ID_TEXT = re.compile(r"[0-9]{1,18}")


def parse_id(text: str | None) -> int | None:
    """The whole number a URL or query parameter names, or None when it is absent or not one."""
    if text is None or not _ID_TEXT.fullmatch(text):
        return None
    return int(text)
