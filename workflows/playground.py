"""Run one prompt version once, on variables a person typed, on a provider they chose (the web UI's playground).

Rendering is a read (a viewer may see what would be sent); calling a provider spends the team's money, so it
needs write access. The call goes through the gateway like any run's: the team's response cache answers a
repeated request, and a budget of one call bounds it. Each call is recorded (PlaygroundCall), so it counts in the
team's usage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from accounts.actors import Actor, ensure_can_write
from prompts.models import PromptVersion
from prompts.rendering import RenderedPrompt, render
from workflows.call_cache import TeamCallCache
from workflows.gateway.budget import Budget
from workflows.gateway.gateway import Gateway
from workflows.gateway.types import GenerationRequest
from workflows.models import PlaygroundCall
from workflows.provider_factory import model_prices, provider_build, retry_policy


@dataclass(frozen=True)
class PlaygroundResult:
    rendered: RenderedPrompt
    output: str
    error: str
    cached: bool
    latency_ms: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    provider: str
    model: str


def playground_render(*, version: PromptVersion, inputs: Mapping[str, str]) -> RenderedPrompt:
    """What the version sends for these variables; RenderError names a missing one."""
    return render(version.prompt_content(), inputs)


def playground_run(
    *, version: PromptVersion, inputs: Mapping[str, str], provider: str = "", model: str = "", actor: Actor
) -> PlaygroundResult:
    """One call of the version on `provider`/`model` (blank: the version's own); provider errors are returned
    in `error`, not raised, so the page can show them beside what was sent."""
    ensure_can_write(actor, version.prompt.team)
    rendered = playground_render(version=version, inputs=inputs)
    chosen = provider_build(name=provider or version.provider, model=model or version.model_name)
    gateway = Gateway(
        provider=chosen,
        cache=TeamCallCache(team=version.prompt.team),
        budget=Budget(max_calls=1),
        prices=model_prices(),
        retry=retry_policy(),
    )
    request = GenerationRequest(
        prompt=rendered, temperature=version.temperature, max_tokens=version.max_tokens, stop=tuple(version.stop)
    )
    (result,) = gateway.run([request])
    generation = result.generation
    # Recorded whatever happened: a failed call may still have been billed, and a cached one shows as cached.
    PlaygroundCall.objects.create(
        team=version.prompt.team,
        version=version,
        created_by=actor.audit_user,
        provider=chosen.name,
        model_name=chosen.model_name,
        cached=result.cached,
        input_tokens=result.usage.input_tokens,
        output_tokens=result.usage.output_tokens,
        cost_usd=Decimal(str(round(result.cost_usd, 6))),
        error_message=result.error,
    )
    return PlaygroundResult(
        rendered=rendered,
        output=generation.text if generation is not None else "",
        error=result.error,
        cached=result.cached,
        latency_ms=generation.latency_ms if generation is not None else 0,
        input_tokens=result.usage.input_tokens,
        output_tokens=result.usage.output_tokens,
        cost_usd=result.cost_usd,
        provider=chosen.name,
        model=chosen.model_name,
    )
