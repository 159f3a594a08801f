"""Differences between two prompt versions' content: field by field, and as a readable unified text diff.

Plain Python on content dicts (`PromptVersion.content()`, the optimizer's candidates), so the API's version
diff, the web UI and a run's report show the same thing.
"""

from __future__ import annotations

import difflib
import re
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
    if content.get("stop"):
        lines.append("stop: " + ", ".join(repr(stop) for stop in content["stop"]))
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


@dataclass(frozen=True)
class Segment:
    text: str
    changed: bool


@dataclass(frozen=True)
class SideBySideRow:
    """One row of a side-by-side diff: a line of each version (None where one side has no line)."""

    kind: str  # "same", "changed", "removed" or "added"
    before: tuple[Segment, ...] | None
    after: tuple[Segment, ...] | None


_WORDS = re.compile(r"\s+|\w+|[^\w\s]")


# Matching words is quadratic in the worst case: longer changed lines are marked changed as a whole.
MAX_WORDS_COMPARED = 2000


def _word_segments(before: str, after: str) -> tuple[tuple[Segment, ...], tuple[Segment, ...]]:
    """Two changed lines split into words, each side's words marked where they differ from the other's."""
    old, new = _WORDS.findall(before), _WORDS.findall(after)
    if len(old) + len(new) > MAX_WORDS_COMPARED:
        return (Segment(before, True),), (Segment(after, True),)
    left: list[Segment] = []
    right: list[Segment] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if i2 > i1:
            left.append(Segment("".join(old[i1:i2]), tag != "equal"))
        if j2 > j1:
            right.append(Segment("".join(new[j1:j2]), tag != "equal"))
    return tuple(left), tuple(right)


def side_by_side(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[SideBySideRow]:
    """The two versions' readable lines aligned; changed lines paired and marked word by word."""
    old, new = prompt_as_text(before), prompt_as_text(after)
    rows: list[SideBySideRow] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            rows += [SideBySideRow("same", (Segment(line, False),), (Segment(line, False),)) for line in old[i1:i2]]
            continue
        removed, added = old[i1:i2], new[j1:j2]
        for index in range(max(len(removed), len(added))):
            if index < len(removed) and index < len(added):
                left, right = _word_segments(removed[index], added[index])
                rows.append(SideBySideRow("changed", left, right))
            elif index < len(removed):
                rows.append(SideBySideRow("removed", (Segment(removed[index], True),), None))
            else:
                rows.append(SideBySideRow("added", None, (Segment(added[index], True),)))
    return rows
