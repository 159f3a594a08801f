"""Differences between two prompt versions' content: field by field, and as a readable unified text diff.

Plain Python on content dicts (`PromptVersion.content()`, the optimizer's candidates), so the API's version
diff, the web UI and a run's report show the same thing.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prompts.content import CONTENT_FIELDS


def prompt_as_text(content: Mapping[str, Any]) -> list[str]:
    """The content as readable lines, the form the text diff compares."""
    lines = [f"layout: {content.get('layout', 'chat')}", f"output: {content.get('output_type', 'text')}"]
    if content.get("output_choices"):
        lines.append("choices: " + ", ".join(content["output_choices"]))
    if content.get("output_schema") is not None:
        lines.append(f"schema: {content['output_schema']}")
    if "provider" in content:
        lines.append(f"model: {content['provider']}/{content.get('model_name') or 'default'}")
    lines.append(f"temperature: {content.get('temperature', 0.0)}")
    lines.append(f"max_tokens: {content.get('max_tokens')}")
    instruction = content.get("system_instruction") or ""
    if instruction:
        lines += ["system instruction:", *("  " + line for line in instruction.splitlines())]
    lines += ["template:", *("  " + line for line in content["template"].splitlines())]
    for number, demo in enumerate(content.get("demonstrations") or (), start=1):
        shown = "; ".join(f"{name}={value!r}" for name, value in demo["inputs"].items())
        lines.append(f"demonstration {number}: {shown} -> {demo['output']!r}")
    return lines


def unified_text_diff(before: Mapping[str, Any], after: Mapping[str, Any], *, names: tuple[str, str]) -> str:
    return "\n".join(
        difflib.unified_diff(prompt_as_text(before), prompt_as_text(after), names[0], names[1], lineterm="", n=2)
    )


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[FieldChange]:
    """The content fields whose values differ, in the order versions list them."""
    return [
        FieldChange(name, before.get(name), after.get(name))
        for name in CONTENT_FIELDS
        if before.get(name) != after.get(name)
    ]
