"""Checks that a prompt version's content is usable before it is saved (plain Python, field-named errors).

Every limit of promptopt.input_limits that concerns a version is enforced here, and the version service runs
these checks before it hashes or stores anything, so every surface (commands, admin, API, web UI, the
optimizer's own winners) gets the same refusals.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from promptopt.input_limits import (
    MAX_CHOICE_CHARS,
    MAX_CHOICES,
    MAX_DEMONSTRATIONS,
    MAX_INPUT_FIELDS,
    MAX_NAME_CHARS,
    MAX_TEXT_CHARS,
    MAX_VERSION_CHARS,
    text_problem,
)
from promptopt.json_schemas import schema_problem
from prompts.placeholders import IDENTIFIER, malformed_placeholders, template_variables

FieldErrors = dict[str, list[str]]
# Django's key for errors that belong to no single field (kept as a string: this module is plain Python).
NON_FIELD_ERRORS = "__all__"

MAX_TEMPERATURE = 2.0
MAX_OUTPUT_TOKENS = 32768
# OpenAI-compatible servers accept at most four stop sequences; a stop is a short marker, not a text.
MAX_STOPS = 4
MAX_STOP_CHARS = 32


def _add(errors: FieldErrors, field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)


def _check_text_field(value: Any, field: str, errors: FieldErrors, *, max_chars: int = MAX_TEXT_CHARS) -> bool:
    if not isinstance(value, str):
        _add(errors, field, "must be text")
        return False
    problem = text_problem(value, max_chars=max_chars)
    if problem is not None:
        _add(errors, field, problem)
        return False
    return True


def _check_template(template: Any, errors: FieldErrors) -> None:
    if not _check_text_field(template, "template", errors):
        return
    if not template.strip():
        _add(errors, "template", "must not be empty")
    for fragment in malformed_placeholders(template):
        _add(errors, "template", f"{fragment!r} is not a placeholder; use {{{{name}}}} with a plain variable name")


def _check_system_instruction(instruction: Any, errors: FieldErrors) -> None:
    if not _check_text_field(instruction, "system_instruction", errors):
        return
    # The instruction is sent as written, never substituted: a placeholder there would reach the model as the
    # literal text "{{name}}", which is never what its author meant.
    fragments = [f"{{{{{name}}}}}" for name in template_variables(instruction)] + malformed_placeholders(instruction)
    if fragments:
        _add(
            errors,
            "system_instruction",
            f"{fragments[0]!r} looks like template syntax, but the system instruction is sent as written; "
            "put {{placeholders}} in the template",
        )


def _check_demonstration(index: int, demo: Any, variables: list[str], errors: FieldErrors) -> None:
    where = f"demonstration {index}"
    if not isinstance(demo, Mapping) or set(demo) != {"inputs", "output"}:
        _add(errors, "demonstrations", f"{where}: must be an object with exactly 'inputs' and 'output'")
        return
    inputs, output = demo["inputs"], demo["output"]
    if not isinstance(inputs, Mapping) or not all(isinstance(v, str) for v in inputs.values()):
        _add(errors, "demonstrations", f"{where}: 'inputs' must map variable names to text")
        return
    if len(inputs) > MAX_INPUT_FIELDS:
        _add(errors, "demonstrations", f"{where}: has {len(inputs):,} inputs; the limit is {MAX_INPUT_FIELDS}")
        return
    for name, value in inputs.items():
        if not isinstance(name, str) or len(name) > MAX_NAME_CHARS or not IDENTIFIER.fullmatch(name):
            _add(errors, "demonstrations", f"{where}: input name {str(name)[:40]!r} is not a plain variable name")
            return
        problem = text_problem(value)
        if problem is not None:
            _add(errors, "demonstrations", f"{where}: input {name!r} {problem}")
            return
    missing = [name for name in variables if name not in inputs]
    if missing:
        _add(errors, "demonstrations", f"{where}: missing input {', '.join(repr(m) for m in missing)}")
    if not isinstance(output, str) or not output.strip():
        _add(errors, "demonstrations", f"{where}: 'output' must be non-empty text")
        return
    problem = text_problem(output)
    if problem is not None:
        _add(errors, "demonstrations", f"{where}: 'output' {problem}")


def _check_demonstrations(demonstrations: Any, variables: list[str], errors: FieldErrors) -> None:
    if not isinstance(demonstrations, list | tuple):
        _add(errors, "demonstrations", "must be a list of {inputs, output} objects")
        return
    if len(demonstrations) > MAX_DEMONSTRATIONS:
        _add(errors, "demonstrations", f"has {len(demonstrations):,} entries; the limit is {MAX_DEMONSTRATIONS}")
        return
    for index, demo in enumerate(demonstrations, start=1):
        _check_demonstration(index, demo, variables, errors)


def _check_choices(choices: Any, errors: FieldErrors) -> None:
    if not isinstance(choices, list | tuple) or not all(isinstance(c, str) and c.strip() for c in choices):
        _add(errors, "output_choices", "must be a list of non-empty labels")
        return
    if len(choices) < 2:
        _add(errors, "output_choices", "a choice output needs at least two choices")
        return
    if len(choices) > MAX_CHOICES:
        _add(errors, "output_choices", f"has {len(choices):,} choices; the limit is {MAX_CHOICES}")
        return
    seen: dict[str, str] = {}
    for choice in choices:
        problem = text_problem(choice, max_chars=MAX_CHOICE_CHARS)
        if problem is not None:
            _add(errors, "output_choices", f"choice {choice[:40]!r} {problem}")
            return
        # Scoring compares labels without regard to case or spacing, so such choices could never be told apart.
        folded = " ".join(choice.casefold().split())
        if folded in seen:
            same = "are the same" if seen[folded] == choice else "differ only in letter case or spacing"
            _add(errors, "output_choices", f"choices {seen[folded]!r} and {choice!r} {same}; choices must be distinct")
            return
        seen[folded] = choice


def _check_output(content: Mapping[str, Any], errors: FieldErrors) -> None:
    output_type, choices, schema = content["output_type"], content["output_choices"], content["output_schema"]
    if output_type == "choice":
        _check_choices(choices, errors)
    elif choices:
        _add(errors, "output_choices", "only a choice output has choices")
    if output_type == "json":
        if not isinstance(schema, Mapping):
            _add(errors, "output_schema", "a JSON output needs a JSON Schema object")
        else:
            problem = schema_problem(schema)
            if problem is not None:
                _add(errors, "output_schema", problem)
    elif schema is not None:
        _add(errors, "output_schema", "only a JSON output has a schema")


def _check_settings(content: Mapping[str, Any], errors: FieldErrors) -> None:
    temperature = content.get("temperature", 0.0)
    # NaN passes every comparison-based range check, and the database's check constraint would then refuse it.
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not math.isfinite(temperature):
        _add(errors, "temperature", "must be a finite number")
    elif not 0.0 <= temperature <= MAX_TEMPERATURE:
        _add(errors, "temperature", f"must be between 0 and {MAX_TEMPERATURE:g}")
    max_tokens = content.get("max_tokens", 1)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not 1 <= max_tokens <= MAX_OUTPUT_TOKENS:
        _add(errors, "max_tokens", f"must be a whole number from 1 to {MAX_OUTPUT_TOKENS}")
    model_name = content.get("model_name", "")
    if model_name:
        _check_text_field(model_name, "model_name", errors, max_chars=MAX_NAME_CHARS)
    _check_stops(content.get("stop") or [], errors)


def _check_stops(stops: Any, errors: FieldErrors) -> None:
    """Stop sequences: a few short texts; whitespace alone (a line break) is a valid stop, an empty one is not."""
    if not isinstance(stops, list | tuple) or not all(isinstance(stop, str) for stop in stops):
        _add(errors, "stop", "must be a list of texts")
        return
    if len(stops) > MAX_STOPS:
        _add(errors, "stop", f"has {len(stops)} entries; the limit is {MAX_STOPS}")
        return
    for stop in stops:
        if not stop or len(stop) > MAX_STOP_CHARS or "\x00" in stop:
            _add(errors, "stop", f"{stop[:40]!r} must be 1 to {MAX_STOP_CHARS} characters, without NUL")
            return


def validate_version_content(content: Mapping[str, Any]) -> FieldErrors:
    """Field name → problems; empty when the content can be saved. `provider` and `model_name` are optional
    keys, so the optimizer can check a candidate (which has neither) with the same rules as a saved version."""
    errors: FieldErrors = {}
    template = content["template"]
    _check_template(template, errors)
    _check_system_instruction(content.get("system_instruction") or "", errors)
    variables = template_variables(template) if isinstance(template, str) and "template" not in errors else []
    _check_demonstrations(content["demonstrations"], variables, errors)
    _check_output(content, errors)
    _check_settings(content, errors)
    if not errors:
        # Checked last: only now is every part known to be small, flat and serialisable.
        size = len(json.dumps(dict(content), ensure_ascii=False, default=str))
        if size > MAX_VERSION_CHARS:
            _add(
                errors,
                NON_FIELD_ERRORS,
                f"the version's whole content is {size:,} characters; the limit is {MAX_VERSION_CHARS:,}",
            )
    return errors
