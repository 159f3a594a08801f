"""The Vertex AI Prompt Optimizer as an external proposer: its zero-shot mode rewrites the incumbent's instruction."""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from workflows.engine.strategies.base import Proposal, ProposalContext
from workflows.engine.strategies.critique import content_with_instruction
from workflows.engine.strategies.guards import NewContents

logger = logging.getLogger(__name__)

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# The optimizer answers in seconds; a minute bounds a hung call without cutting off a slow one.
REQUEST_TIMEOUT_MS = 60_000
MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class VertexSettings:
    """Where the Prompt Optimizer runs; built by the caller only when Vertex AI is configured."""

    project: str
    location: str
    credentials_file: str | None = None


# A `vertexai.Client` or a stand-in with the same shape: `.prompts.optimize(prompt=...)` returning an object with
# `.parsed_response.suggested_prompt` (or `.new_system_instructions`) and `.raw_text_response`.
VertexClient = Any
ClientFactory = Callable[[], VertexClient]


def vertex_sdk_available() -> bool:
    """True when google-cloud-aiplatform (the `vertexai` package) is installed."""
    return importlib.util.find_spec("vertexai") is not None


def vertex_client_build(settings: VertexSettings) -> VertexClient:
    """A `vertexai.Client` for the settings, authenticated by the service-account file or else by ADC.

    The SDK's own retries are off (one attempt): a failed call means no proposal this iteration, which costs
    less than the SDK's backoff stalling the run.
    """
    # Imported by name: the SDK is optional, and a plain import would make type checking depend on it.
    vertexai = importlib.import_module("vertexai")
    genai_types = importlib.import_module("google.genai.types")
    credentials = None
    if settings.credentials_file:
        service_account = importlib.import_module("google.oauth2.service_account")
        credentials = service_account.Credentials.from_service_account_file(
            settings.credentials_file, scopes=[CLOUD_PLATFORM_SCOPE]
        )
    http_options = genai_types.HttpOptions(
        timeout=REQUEST_TIMEOUT_MS, retry_options=genai_types.HttpRetryOptions(attempts=1)
    )
    return vertexai.Client(
        project=settings.project, location=settings.location, credentials=credentials, http_options=http_options
    )


class VertexPromptOptimizerStrategy:
    """Sends the incumbent's system instruction and its template, one request each, to the zero-shot
    Prompt Optimizer and proposes each suggestion. It sees no examples, so it cannot leak expected outputs;
    templates it returns still have to keep every placeholder (see `content_with_instruction`)."""

    name: ClassVar[str] = "vertex"
    needs_optimizer: ClassVar[bool] = False  # it brings its own optimizer model

    def __init__(
        self,
        *,
        project: str,
        location: str,
        credentials_file: str | None = None,
        client_factory: ClientFactory | None = None,
    ) -> None:
        settings = VertexSettings(project=project, location=location, credentials_file=credentials_file)
        self._client_factory = client_factory or (lambda: vertex_client_build(settings))
        self._client: VertexClient | None = None

    def propose(self, context: ProposalContext, count: int) -> list[Proposal]:
        if count <= 0:
            return []
        incumbent = context.incumbent
        # The system instruction first: it is what the optimizer is built to improve. The template goes too,
        # since many prompts keep their whole instruction in it.
        targets = [("system instruction", incumbent.system_instruction), ("template", incumbent.template)]
        new_contents = NewContents(context)
        proposals: list[Proposal] = []
        for target, text in targets:
            if len(proposals) >= count:
                break
            if not text.strip():
                continue
            suggestion = self._suggestion(text)
            if suggestion is None:
                continue
            applied = content_with_instruction(incumbent, suggestion, context.input_fields)
            if applied is None:
                continue
            content, replaced = applied
            if not new_contents.admit(content):
                continue
            proposals.append(
                Proposal(
                    content=content,
                    strategy=self.name,
                    rationale=f"Vertex AI Prompt Optimizer (zero-shot) rewrote the {target}; used as the {replaced}.",
                    params={"target": target},
                )
            )
        return proposals

    def _suggestion(self, prompt: str) -> str | None:
        """The optimizer's rewrite of `prompt`, or None (with a warning) when the service or the SDK fails."""
        try:
            if self._client is None:
                self._client = self._client_factory()
            response = self._client.prompts.optimize(prompt=prompt)
        except Exception as error:  # any failure of an external service must not end the run
            logger.warning(
                "the Vertex AI Prompt Optimizer failed (%s: %s); no proposal from it this time",
                type(error).__name__,
                str(error)[:MAX_ERROR_CHARS],
            )
            return None
        parsed = getattr(response, "parsed_response", None)
        suggestion = getattr(parsed, "suggested_prompt", None) or getattr(parsed, "new_system_instructions", None)
        if not isinstance(suggestion, str) or not suggestion.strip():
            logger.warning("the Vertex AI Prompt Optimizer returned no suggested prompt; no proposal from it this time")
            return None
        return suggestion.strip()
