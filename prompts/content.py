"""What defines a prompt version: one immutable type for the content, with its conversions.

Plain Python. The version services store it, rendering turns it into messages, the optimizer searches over
it (a candidate is a PromptContent), and a run's winner is saved from it: one type, so a field cannot be
added to one copy and forgotten in another. Its dict form (`to_dict` / `from_dict`) is what versions,
checkpoints, candidates and the API store and send: demonstrations there are `{"inputs", "output"}` objects.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args

from promptopt.errors import InvalidInputError

Layout = Literal["chat", "completion"]
LAYOUTS: tuple[Layout, ...] = get_args(Layout)
Demonstration = tuple[Mapping[str, str], str]  # (inputs, expected output)


@dataclass(frozen=True)
class PromptContent:
    """Everything that defines what a version does; two versions with the same content are the same."""

    template: str
    system_instruction: str = ""
    demonstrations: tuple[Demonstration, ...] = ()
    layout: str = "chat"
    output_type: str = "text"
    output_choices: tuple[str, ...] = ()
    output_schema: Mapping[str, Any] | None = None  # a JSON Schema, for JSON outputs
    provider: str = "local"
    model_name: str = ""  # blank: the provider's default model
    temperature: float = 0.0
    max_tokens: int = 256
    # Texts that end an answer where they appear (the provider's stop sequences), on top of what the layout
    # stops at: e.g. a line break, so a one-line answer is not followed by an explanation the metric would
    # count against it. Part of the version, so production calls stop where the validated ones did.
    stop: tuple[str, ...] = ()
    _key: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Literal types only bind type-checked callers; content read from JSON or a form reaches here too.
        if self.layout not in LAYOUTS:
            raise InvalidInputError(f"layout must be one of {', '.join(LAYOUTS)}, not {self.layout!r}")
        # Tuples, whatever sequence a caller passed: the content is immutable all the way down to its lists.
        object.__setattr__(self, "demonstrations", tuple(self.demonstrations))
        object.__setattr__(self, "output_choices", tuple(self.output_choices))
        object.__setattr__(self, "stop", tuple(self.stop))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PromptContent:
        """From the dict form (`PromptVersion.content()`, a checkpoint, an API body that passed validation);
        fields it lacks take their defaults."""
        return cls(
            template=data["template"],
            system_instruction=data.get("system_instruction") or "",
            demonstrations=tuple(
                # Copied so later changes to the caller's dicts cannot change content that may be in use.
                (dict(demo["inputs"]), str(demo["output"]))
                for demo in data.get("demonstrations") or ()
            ),
            layout=data.get("layout") or "chat",
            output_type=data.get("output_type") or "text",
            output_choices=tuple(data.get("output_choices") or ()),
            output_schema=data.get("output_schema"),
            provider=data.get("provider") or "local",
            model_name=data.get("model_name") or "",
            temperature=data.get("temperature", 0.0),
            max_tokens=data.get("max_tokens", 256),
            stop=tuple(data.get("stop") or ()),
        )

    def to_dict(self) -> dict[str, Any]:
        """The dict form, in the field names and order of CONTENT_FIELDS; JSON-ready."""
        return {
            "system_instruction": self.system_instruction,
            "template": self.template,
            "demonstrations": [{"inputs": dict(inputs), "output": output} for inputs, output in self.demonstrations],
            "layout": str(self.layout),
            "output_type": str(self.output_type),
            "output_choices": list(self.output_choices),
            "output_schema": dict(self.output_schema) if self.output_schema is not None else None,
            "provider": str(self.provider),
            "model_name": self.model_name,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "stop": list(self.stop),
        }

    @property
    def key(self) -> str:
        """A content hash: the identity of a candidate across iterations, checkpoints and worker restarts."""
        if not self._key:
            canonical = json.dumps(
                hashed_form(self.to_dict()), sort_keys=True, ensure_ascii=False, separators=(",", ":")
            )
            object.__setattr__(self, "_key", hashlib.sha256(canonical.encode()).hexdigest()[:32])
        return self._key

    def edit(self, **changes: Any) -> PromptContent:
        """A copy with some fields changed (its key is computed afresh)."""
        return replace(self, **changes)

    @property
    def instruction_text(self) -> str:
        """The words an optimizer may rewrite: the system instruction and the template, as one text."""
        return "\n".join(part for part in (self.system_instruction, self.template) if part.strip())


# The fields that define a version, in the order versions list them; the content hash covers exactly these.
CONTENT_FIELDS: tuple[str, ...] = (
    "system_instruction",
    "template",
    "demonstrations",
    "layout",
    "output_type",
    "output_choices",
    "output_schema",
    "provider",
    "model_name",
    "temperature",
    "max_tokens",
    "stop",
)
# Fields added after versions were first saved, left out of the content hash while they hold their default, so
# the versions and checkpoints saved before them keep their hashes (and a resaved duplicate is still found).
LATER_FIELD_DEFAULTS: dict[str, Any] = {"stop": []}
assert set(CONTENT_FIELDS) == {item.name for item in dataclasses.fields(PromptContent) if item.init}  # noqa: S101


def hashed_form(content: Mapping[str, Any]) -> dict[str, Any]:
    """The dict form as content hashes cover it: later fields only when they differ from their default."""
    return {
        name: value
        for name, value in content.items()
        if not (name in LATER_FIELD_DEFAULTS and list(value or ()) == LATER_FIELD_DEFAULTS[name])
    }
