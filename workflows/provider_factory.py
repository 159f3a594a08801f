"""Builds the configured provider for a name and model, from Django settings; refuses bad config up front."""

from __future__ import annotations

from django.conf import settings

from prompts.models import PromptVersion
from prompts.models import Provider as ProviderName
from workflows.engine.config import RunConfig
from workflows.engine.strategies.vertex import VertexSettings
from workflows.gateway.budget import ModelPrice
from workflows.gateway.providers.base import Provider, ProviderConfigError
from workflows.gateway.retry import RetryPolicy


def model_prices() -> dict[str, ModelPrice]:
    """Prices per million tokens by model name, from settings (models without one count as free)."""
    return {name: ModelPrice(*price) for name, price in settings.MODEL_PRICES_PER_MILLION_TOKENS.items()}


def retry_policy() -> RetryPolicy:
    """How every gateway retries a provider's transient faults, from settings."""
    first_wait = settings.PROVIDER_RETRY_FIRST_WAIT_SECONDS
    return RetryPolicy(
        max_attempts=settings.PROVIDER_RETRY_ATTEMPTS,
        initial_wait_seconds=first_wait,
        jitter_seconds=first_wait,
        max_total_wait_seconds=settings.PROVIDER_RETRY_TOTAL_WAIT_SECONDS,
    )


def task_model_for(version: PromptVersion, config: RunConfig) -> tuple[str, str]:
    """A run's task model (provider, model name): the config's override, else the baseline version's."""
    return config.task_provider or version.provider, config.task_model or version.model_name


def vertex_settings() -> VertexSettings | None:
    """Where the Vertex AI prompt optimizer runs, when Vertex is configured at all."""
    if not settings.VERTEX_PROJECT:
        return None
    return VertexSettings(
        project=settings.VERTEX_PROJECT,
        location=settings.VERTEX_LOCATION,
        credentials_file=str(settings.VERTEX_CREDENTIALS_FILE) if settings.VERTEX_CREDENTIALS_FILE else None,
    )


def provider_build(*, name: str, model: str = "", probe: bool = False) -> Provider:
    """A ready provider, or ProviderConfigError naming what is missing — before any call is made.

    `probe` also checks that a configured server answers at all (used when a run is created).
    """
    if name == ProviderName.LOCAL:
        from workflows.gateway.providers.local import LocalProvider

        return LocalProvider(
            model_path=model or settings.LOCAL_MODEL_PATH,
            context_tokens=settings.LOCAL_CONTEXT_TOKENS,
            threads=settings.LOCAL_THREADS,
        )
    if name == ProviderName.HUGGINGFACE:
        from workflows.gateway.providers.huggingface import HuggingFaceProvider

        if not (model or settings.HF_MODEL or settings.HF_BASE_URL):
            raise ProviderConfigError("provider 'huggingface' needs a model (HF_MODEL or --model) or HF_BASE_URL")
        provider = HuggingFaceProvider(
            model=model or settings.HF_MODEL,
            base_url=settings.HF_BASE_URL,
            token=settings.HF_TOKEN,
            max_concurrency=settings.HF_MAX_CONCURRENCY,
            timeout_seconds=settings.PROVIDER_TIMEOUT_SECONDS,
            allow_private_base_url=settings.ALLOW_PRIVATE_BASE_URLS,
            allowed_hosts=settings.PROVIDER_ALLOWED_HOSTS,
        )
        if probe and settings.HF_BASE_URL:
            from workflows.gateway.providers.urls import check_reachable

            check_reachable(settings.HF_BASE_URL)
        return provider
    if name == ProviderName.VERTEX:
        from workflows.gateway.providers.vertex import VertexProvider

        if not settings.VERTEX_PROJECT:
            raise ProviderConfigError("provider 'vertex' needs VERTEX_PROJECT (and credentials) to be configured")
        return VertexProvider(
            project=settings.VERTEX_PROJECT,
            location=settings.VERTEX_LOCATION,
            model=model or settings.VERTEX_MODEL,
            credentials_file=str(settings.VERTEX_CREDENTIALS_FILE) if settings.VERTEX_CREDENTIALS_FILE else None,
            timeout_seconds=settings.PROVIDER_TIMEOUT_SECONDS,
        )
    if name == ProviderName.TRANSFORMERS:
        from workflows.gateway.providers.local import default_model_path
        from workflows.gateway.providers.transformers_local import TransformersProvider

        # Without a configured model, the embedded SmolLM2 GGUF: transformers de-quantises it (slowly, offline).
        return TransformersProvider(
            model_path=model or settings.TRANSFORMERS_MODEL_PATH or default_model_path(),
            device=settings.TRANSFORMERS_DEVICE,
        )
    known = ", ".join(ProviderName.values)
    raise ProviderConfigError(f"unknown provider {name!r} (known: {known})")
