"""The content-addressed response cache: how a request becomes a key, and what a cache must offer the gateway.

The key covers everything that can change a provider's answer (provider, model, sampling parameters and
both rendered forms of the prompt) and nothing else, so equal keys mean interchangeable answers. The
Django side stores entries in `LLMCallCache` rows through the same `ResponseCache` interface.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Protocol

from workflows.gateway.types import Generation, GenerationRequest

# Part of every key: changing what goes into a key must change this, so old entries are never misread.
KEY_FORMAT_VERSION = 1


def cache_key(*, provider: str, model: str, request: GenerationRequest, route: str = "") -> str:
    """SHA-256 (hex) of a canonical JSON of provider, model, sampling parameters and the rendered prompt.

    `route` names how the provider sends this request when it has more than one way (the huggingface
    provider continues completion-layout prompts through a server's text-completion route, or wraps them in
    chat where the server lacks it): the model sees different text, so the answers must not share an entry.
    Empty (left out of the key) for providers with one way, so their existing entries keep their keys."""
    material = {
        "format": KEY_FORMAT_VERSION,
        "provider": provider,
        "model": model,
        # Normalised types: a temperature of 0 and 0.0 is the same request and must share an entry.
        "parameters": {
            "temperature": float(request.temperature),
            "max_tokens": int(request.max_tokens),
            "seed": int(request.seed),
        },
        "prompt": request.prompt.cache_key_material(),
    }
    if route:
        material["route"] = route
    if request.stop:  # left out when empty, so entries made before versions had stops keep their keys
        material["stop"] = list(request.stop)
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseCache(Protocol):
    """Stored provider answers by key.

    The gateway calls a cache only from the thread that called `Gateway.run`, so an implementation backed
    by a database connection needs no thread-safety of its own. `put` may find the key already stored (two
    workers answered the same prompt, or a run asked for fresh samples); keeping either answer is correct.
    """

    def get(self, key: str) -> Generation | None: ...

    def put(self, key: str, *, provider: str, model: str, generation: Generation) -> None: ...


class InMemoryResponseCache:
    """A process-local ResponseCache for tests and benchmarks; the latest answer for a key wins."""

    def __init__(self) -> None:
        self._entries: dict[str, Generation] = {}
        # Not needed by the gateway (see ResponseCache), but a benchmark may share one cache between threads.
        self._lock = threading.Lock()

    def get(self, key: str) -> Generation | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: str, *, provider: str, model: str, generation: Generation) -> None:
        with self._lock:
            self._entries[key] = generation

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
