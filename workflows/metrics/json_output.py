"""Metrics for JSON outputs: the output parses as JSON, and conforms to a JSON Schema."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import exceptions as schema_errors
from jsonschema import validators
from referencing.exceptions import Unresolvable

from promptopt.errors import InvalidInputError
from workflows.metrics.base import MetricInput, MetricResult
from workflows.metrics.feedback import quote

# Chat models often wrap JSON in a Markdown fence even when told not to; the fence is tolerated, but only
# as a wrapper of the whole output, so prose around the JSON still counts as invalid.
_FENCE = re.compile(r"\A```(?:json)?[ \t]*\n?(?P<body>.*?)\n?[ \t]*```\Z", re.DOTALL | re.IGNORECASE)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


@dataclass(frozen=True)
class ParsedJson:
    value: Any = None
    error: str = ""  # empty when the output parsed


def parse_json_output(output: str) -> ParsedJson:
    text = output.strip()
    if not text:
        return ParsedJson(error="output is empty; expected JSON")
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced["body"].strip()
    try:
        # Python accepts NaN and Infinity, which no other JSON parser does.
        return ParsedJson(value=json.loads(text, parse_constant=_reject_constant))
    except json.JSONDecodeError as error:
        return ParsedJson(error=f"output is not valid JSON: {error.msg} at char {error.pos}")
    except ValueError as error:
        return ParsedJson(error=f"output is not valid JSON: {error}")
    except RecursionError:
        return ParsedJson(error="output is not valid JSON: it is nested too deeply")


class JsonValid:
    name = "json_valid"
    binary = True

    def score(self, item: MetricInput) -> MetricResult:
        parsed = parse_json_output(item.output)
        return MetricResult(0.0, parsed.error) if parsed.error else MetricResult(1.0)


def _describe(error: schema_errors.ValidationError) -> str:
    # jsonschema says "'name' is a required property"; naming the missing property first reads better.
    if error.validator == "required" and isinstance(error.instance, Mapping):
        for name in error.validator_value:
            if name not in error.instance and error.message == f"{name!r} is a required property":
                return f"missing required property {quote(str(name))} at {error.json_path}"
    return f"{error.message} at {error.json_path}"


class JsonSchemaMatch:
    name = "json_schema"
    binary = True

    def __init__(self, schema: Mapping[str, Any]) -> None:
        validator_class = validators.validator_for(schema)
        # Formats (date, email, …) are checked too: a schema author who writes them expects them to hold.
        self._validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)

    def score(self, item: MetricInput) -> MetricResult:
        parsed = parse_json_output(item.output)
        if parsed.error:
            return MetricResult(0.0, parsed.error)
        try:
            errors = list(self._validator.iter_errors(parsed.value))
        except Unresolvable as error:
            # The configuration is at fault, not the output, so this must not be scored as a failure.
            raise InvalidInputError(f"schema: cannot resolve the reference {error}") from error
        # best_match prefers the shallowest, most specific error over e.g. every branch of an anyOf.
        first = schema_errors.best_match(errors)
        if first is None:
            return MetricResult(1.0)
        others = len(errors) - 1
        more = f" (and {others} more violation{'s' if others > 1 else ''})" if others else ""
        return MetricResult(0.0, f"output does not match the schema: {_describe(first)}{more}")
