"""JSON Schemas that users supply (a version's output schema, a json_schema metric): checked, then compiled.

Outputs are validated by jsonschema-rs with the `regex` crate's engine, so every `pattern` and
`patternProperties` key matches in linear time (the pure-Python jsonschema backtracks with `re`), and with
`offline` set so no `$ref` is ever fetched from the network. The pure-Python jsonschema still checks a
schema against its meta-schema first, because its messages name the offending place in the schema.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema_rs
from jsonschema import SchemaError
from jsonschema.validators import validator_for

from promptopt.input_limits import MAX_CONFIG_CHARS, json_value_size_problem


def _references(schema: Any) -> Iterator[str]:
    # Iterative: the depth is bounded by the time this runs, but a stack keeps it cheap and obviously safe.
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str):
                    yield value
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)


PATTERN_SYNTAX = "patterns are matched in linear time, so look-around and back-references are not available"


def _first_line(error: Exception) -> str:
    return str(error).strip().partition("\n")[0][:300]


def _compiled(schema: Mapping[str, Any]) -> Any:
    return jsonschema_rs.validator_for(
        dict(schema),
        validate_formats=True,  # a schema author who writes "format": "date" expects it to hold
        pattern_options=jsonschema_rs.RegexOptions(),
        offline=True,
    )


def schema_problem(schema: Any) -> str | None:
    """Why a JSON Schema cannot be used (too big or deep, a remote $ref, not a valid schema), or None."""
    if not isinstance(schema, Mapping):
        return "must be a JSON Schema object"
    problem = json_value_size_problem(schema, max_chars=MAX_CONFIG_CHARS)
    if problem is not None:
        return problem
    for reference in _references(schema):
        # Remote references would be fetched at scoring time, from machines that may have no network.
        if not reference.startswith("#"):
            return f"$ref {reference!r} points outside the schema; only references like '#/$defs/…' work"
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as error:
        return f"not a valid JSON Schema: {error.message} at {error.json_path}"
    try:
        _compiled(schema)
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as error:
        # What passes the meta-schema but not here: patterns the linear-time engine cannot run, missing $defs.
        return f"not a valid JSON Schema: {_first_line(error)} ({PATTERN_SYNTAX})"
    return None


def schema_validator(schema: Mapping[str, Any]) -> Any:
    """A compiled validator (`iter_errors(instance)`); the schema must have passed schema_problem."""
    return _compiled(schema)


def describe_violation(error: Any) -> str:
    """One readable line for a jsonschema-rs validation error, with where in the instance it happened."""
    path = "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.instance_path)
    kind = error.kind
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
        # Naming the missing property first reads better than '"name" is a required property'.
        return f"missing required property {kind.property!r} at {path}"
    message = str(error.message)
    # The message quotes the offending value, which may be a whole model output.
    if len(message) > 200:
        message = message[:200] + "…"
    return f"{message} at {path}"
