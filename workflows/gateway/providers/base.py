"""The provider interface and the errors every provider raises, so retries and messages work the same."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from promptopt.errors import InvalidInputError, PromptOptError
from workflows.gateway.types import Generation, GenerationRequest


class ProviderError(PromptOptError):
    """A provider could not answer. `retryable` says whether the same call may succeed later."""

    retryable = False


class ProviderUnavailableError(ProviderError):
    """Timeouts, 408/429/5xx, a model still loading: worth retrying with backoff."""

    retryable = True

    def __init__(self, message: str, *, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class ProviderRequestError(ProviderError):
    """The provider refused this request (bad parameters, unknown model, 4xx): retrying cannot help."""


class ProviderConfigError(InvalidInputError):
    """The provider is not usable as configured (missing credentials, a model file that does not exist)."""


class Provider(Protocol):
    """Generates outputs for a batch of rendered prompts."""

    name: str

    @property
    def model_name(self) -> str: ...

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """One Generation per request, in order; raise ProviderError if the batch cannot be answered."""
        ...


def scores_choices(provider: Provider) -> bool:
    """True when the provider picks a choice output by the log-probability of each label (optional attribute
    `scores_choices`, like `max_concurrency`); others parse or constrain free text."""
    return getattr(provider, "scores_choices", False) is True


def request_route(provider: Provider, request: GenerationRequest) -> str:
    """How the provider will send this request, when it has more than one way (optional method `route`, like
    `scores_choices`); part of the request's cache key. Empty for providers with one way."""
    route = getattr(provider, "route", None)
    return str(route(request)) if callable(route) else ""
