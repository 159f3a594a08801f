"""What goes to a provider and what comes back, independent of any provider's own formats."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from prompts.rendering import RenderedPrompt


@dataclass(frozen=True)
class GenerationRequest:
    """One rendered prompt to run, with the sampling settings of the version it came from."""

    prompt: RenderedPrompt
    temperature: float = 0.0
    max_tokens: int = 256
    seed: int = 0
    stop: tuple[str, ...] = ()  # the version's stop sequences, added to those the layout implies

    def all_stops(self, layout_stops: Sequence[str] = ()) -> list[str]:
        """What a provider stops at: the layout's own stops, then the version's, each once."""
        return list(dict.fromkeys([*layout_stops, *self.stop]))


@dataclass(frozen=True)
class Generation:
    """A provider's answer to one request.

    `choice_logprobs` is filled when the request had choices and the provider scored them: the output is
    then the most probable choice, picked by log-probability rather than parsed from free text.
    """

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: int = 0
    choice_logprobs: dict[str, float] | None = None
    raw: dict[str, Any] = field(default_factory=dict)
