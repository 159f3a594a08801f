"""Metrics for JSON outputs: the output parses as JSON, and conforms to a JSON Schema."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from promptopt.json_schemas import describe_violation, schema_validator
from workflows.metrics.base import MetricInput, MetricResult

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


class JsonSchemaMatch:
    name = "json_schema"
    binary = True

    def __init__(self, schema: Mapping[str, Any]) -> None:
        # jsonschema-rs with a linear-time regex engine: a schema's `pattern` cannot stall scoring.
        self._validator = schema_validator(schema)

    def score(self, item: MetricInput) -> MetricResult:
        parsed = parse_json_output(item.output)
        if parsed.error:
            return MetricResult(0.0, parsed.error)
        errors = list(self._validator.iter_errors(parsed.value))
        if not errors:
            return MetricResult(1.0)
        # The validator reports violations in schema order; the first names the first rule broken.
        others = len(errors) - 1
        more = f" (and {others} more violation{'s' if others > 1 else ''})" if others else ""
        return MetricResult(0.0, f"output does not match the schema: {describe_violation(errors[0])}{more}")
