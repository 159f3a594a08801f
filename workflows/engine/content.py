"""What the optimizer searches over: the content of a prompt (everything rendering uses, plus sampling settings)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from prompts.rendering import Layout, PromptSpec

Demonstration = tuple[Mapping[str, str], str]  # (inputs, expected output)


@dataclass(frozen=True)
class PromptContent:
    """One point of the search space; two contents with the same `key` are the same candidate.

    Provider and model are not part of it: a run searches prompts for one task model, fixed by its config.
    """

    template: str
    system_instruction: str = ""
    demonstrations: tuple[Demonstration, ...] = ()
    layout: Layout = "chat"
    output_type: str = "text"
    output_choices: tuple[str, ...] = ()
    output_schema: Mapping[str, Any] | None = None
    temperature: float = 0.0
    max_tokens: int = 256
    _key: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_key", _content_key(self.to_dict()))

    @property
    def key(self) -> str:
        """A content hash: the identity of a candidate across iterations, checkpoints and worker restarts."""
        return self._key

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PromptContent:
        """From a `PromptVersion.content()`-style dict (provider and model fields are ignored)."""
        return cls(
            template=data["template"],
            system_instruction=data.get("system_instruction") or "",
            demonstrations=tuple(
                (dict(demo["inputs"]), str(demo["output"])) for demo in data.get("demonstrations") or ()
            ),
            layout=data.get("layout") or "chat",
            output_type=data.get("output_type") or "text",
            output_choices=tuple(data.get("output_choices") or ()),
            output_schema=data.get("output_schema"),
            temperature=float(data.get("temperature", 0.0)),
            max_tokens=int(data.get("max_tokens", 256)),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, in the field names of `PromptVersion` (what a checkpoint and a saved version store)."""
        return {
            "template": self.template,
            "system_instruction": self.system_instruction,
            "demonstrations": [{"inputs": dict(inputs), "output": output} for inputs, output in self.demonstrations],
            "layout": self.layout,
            "output_type": self.output_type,
            "output_choices": list(self.output_choices),
            "output_schema": dict(self.output_schema) if self.output_schema is not None else None,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }

    def spec(self) -> PromptSpec:
        return PromptSpec.from_content(self.to_dict())

    def edit(self, **changes: Any) -> PromptContent:
        """A copy with some fields changed (the key is recomputed)."""
        return replace(self, **changes)

    @property
    def instruction_text(self) -> str:
        """The words an optimizer may rewrite: the system instruction and the template, as one text."""
        return "\n".join(part for part in (self.system_instruction, self.template) if part.strip())


def _content_key(data: Mapping[str, Any]) -> str:
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]
