"""The optimizer model behind the `OptimizerModel` interface: one chat request through its own gateway."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from prompts.rendering import Message, RenderedPrompt
from workflows.gateway.gateway import Gateway
from workflows.gateway.types import GenerationRequest

# Rewrites benefit from some variety between proposals; the seed keeps them reproducible.
OPTIMIZER_TEMPERATURE = 0.7
OPTIMIZER_MAX_TOKENS = 700


class GatewayOptimizerModel:
    def __init__(self, *, gateway: Gateway, seed: int) -> None:
        self._gateway = gateway
        self._seed = seed

    def complete(self, *, system: str, user: str, json_schema: Mapping[str, Any] | None = None) -> str | None:
        prompt = RenderedPrompt(
            layout="chat",
            messages=(Message(role="system", content=system), Message(role="user", content=user)),
            completion_text=f"{system}\n\n{user}\n\n",
            choices=(),
            json_schema=json_schema,
        )
        # The seed comes from the run's seed and the question itself, not from a counter: a run resumed after
        # a crash asks the same questions with the same seeds (and finds the answers in the cache).
        digest = hashlib.sha256(f"{self._seed}\n{system}\n{user}".encode()).digest()
        request = GenerationRequest(
            prompt=prompt,
            temperature=OPTIMIZER_TEMPERATURE,
            max_tokens=OPTIMIZER_MAX_TOKENS,
            seed=int.from_bytes(digest[:4], "big"),
        )
        (result,) = self._gateway.run([request])
        return result.generation.text if result.generation is not None else None
