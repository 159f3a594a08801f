"""The gateway's response cache, stored in LLMCallCache rows and shared by everyone in one team."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from accounts.models import Team
from workflows.gateway.types import Generation
from workflows.models import LLMCallCache


class TeamCallCache:
    """Content-addressed cache of provider responses for one team (the key never leaves the team)."""

    def __init__(self, *, team: Team) -> None:
        self._team = team

    def get(self, key: str) -> Generation | None:
        row = LLMCallCache.objects.filter(team=self._team, key=key).only("response").first()
        if row is None:
            return None
        response: dict[str, Any] = row.response
        return Generation(
            text=response["text"],
            input_tokens=int(response.get("input_tokens", 0)),
            output_tokens=int(response.get("output_tokens", 0)),
            latency_ms=int(response.get("latency_ms", 0)),
            choice_logprobs=response.get("choice_logprobs"),
            raw=response.get("raw", {}),
        )

    def put(self, key: str, *, provider: str, model: str, generation: Generation) -> None:
        response = {
            "text": generation.text,
            "input_tokens": generation.input_tokens,
            "output_tokens": generation.output_tokens,
            "latency_ms": generation.latency_ms,
            "choice_logprobs": generation.choice_logprobs,
            "raw": generation.raw,
        }
        try:
            # A savepoint: two workers may answer the same prompt at once; the first one's row wins.
            with transaction.atomic():
                LLMCallCache.objects.create(
                    team=self._team,
                    key=key,
                    provider=provider,
                    model_name=model,
                    response=response,
                    input_tokens=generation.input_tokens,
                    output_tokens=generation.output_tokens,
                )
        except IntegrityError:
            pass
