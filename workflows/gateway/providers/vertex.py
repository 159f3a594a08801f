"""The Vertex AI provider: Gemini through `google-genai` in Vertex mode, authenticated by ADC or a service account.

The client is built once per provider with an explicit timeout and with its own retries switched off
(`HttpRetryOptions(attempts=1)`): the gateway owns retries, backoff and the retry budget, and a second layer of
retries inside the SDK would multiply attempts and hide them from budgets and usage accounting. For the same
reason automatic continuation and automatic function calling are off, so one `generate` call is one HTTP call.

Credentials are resolved when the provider is built, so missing ones are refused before any call is made; the
access token itself is fetched (and refreshed) by the client on first use.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from typing import Any

import google.auth
import httpx
import httpx2
from google import genai
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import Credentials, with_scopes_if_required
from google.genai import errors as genai_errors
from google.genai import types
from google.oauth2 import service_account

from prompts.rendering import RenderedPrompt
from workflows.gateway.providers.base import (
    ProviderConfigError,
    ProviderError,
    ProviderRequestError,
    ProviderUnavailableError,
)
from workflows.gateway.providers.urls import check_base_url, retry_after_seconds
from workflows.gateway.types import Generation, GenerationRequest

DEFAULT_MODEL = "gemini-2.5-flash"
DEFAULT_MAX_CONCURRENCY = 8
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# Completion-layout prompts separate demonstrations by a blank line, so one ends the answer (as for `local`).
COMPLETION_STOPS = ["\n\n"]
MAX_ERROR_MESSAGE_CHARS = 500
ROLES = {"user": "user", "assistant": "model"}
# Finish reasons that still mean "this is the model's answer"; any other one with no text means it was withheld.
ANSWERED = {None, "STOP", "MAX_TOKENS", "FINISH_REASON_UNSPECIFIED"}
RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"


class VertexProvider:
    """Runs prompts on Gemini in Vertex AI; choice outputs are constrained to the labels by an enum schema.

    `thinking_budget` caps the hidden reasoning of thinking models (0 turns it off on Flash models); left as
    None, the model's default applies. Thinking tokens are billed as output and counted as output tokens here.
    """

    name = "vertex"

    def __init__(
        self,
        *,
        project: str,
        location: str,
        model: str = DEFAULT_MODEL,
        credentials: Credentials | None = None,
        credentials_file: str | None = None,
        timeout_seconds: float,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        base_url: str | None = None,
        allow_private_base_url: bool = False,
        allowed_hosts: Collection[str] = (),
        thinking_budget: int | None = None,
    ) -> None:
        for field, value in (("project", project), ("location", location), ("model", model)):
            if not value or not value.strip():
                raise ProviderConfigError(f"provider 'vertex' needs a {field}")
        if not timeout_seconds > 0:
            raise ProviderConfigError(f"timeout_seconds must be positive, not {timeout_seconds!r}")
        if max_concurrency < 1:
            raise ProviderConfigError(f"max_concurrency must be at least 1, not {max_concurrency!r}")
        if credentials is not None and credentials_file:
            raise ProviderConfigError("give the vertex provider credentials or credentials_file, not both")
        self.max_concurrency = max_concurrency
        self._model = model.strip()
        self._timeout_seconds = timeout_seconds
        self._thinking_budget = thinking_budget

        # The bearer token goes wherever base_url points, so it gets the same check as any other base URL.
        checked_base_url = (
            check_base_url(base_url, allow_private=allow_private_base_url, allowed_hosts=allowed_hosts)
            if base_url and base_url.strip()
            else None
        )
        self._where = checked_base_url or f"Vertex AI ({location})"
        if credentials is None:
            credentials = _credentials_from_file(credentials_file) if credentials_file else _application_default()
        else:
            # Service-account credentials built elsewhere may lack a scope; Vertex AI needs cloud-platform.
            credentials = with_scopes_if_required(credentials, [CLOUD_PLATFORM_SCOPE])  # type: ignore[no-untyped-call]
        http_options = types.HttpOptions(
            timeout=max(1, round(timeout_seconds * 1000)),  # milliseconds; 0 would mean "no timeout"
            base_url=checked_base_url,
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        try:
            self._client = genai.Client(
                vertexai=True,
                project=project.strip(),
                location=location.strip(),
                credentials=credentials,
                http_options=http_options,
            )
        except ValueError as error:
            raise ProviderConfigError(f"the vertex client refused its configuration: {error}") from error

    @property
    def model_name(self) -> str:
        return self._model

    def close(self) -> None:
        """Closes the client's HTTP connections; the provider cannot be used afterwards."""
        self._client.close()

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        return [self._generate_one(request) for request in requests]

    def _config(self, request: GenerationRequest, system_instruction: str | None) -> types.GenerateContentConfig:
        choices = request.prompt.choices
        json_schema = dict(request.prompt.json_schema) if request.prompt.json_schema is not None else None
        if choices:
            mime_type: str | None = "text/x.enum"
        elif json_schema is not None:
            mime_type = "application/json"
        else:
            mime_type = None
        return types.GenerateContentConfig(
            system_instruction=system_instruction,
            temperature=request.temperature,
            max_output_tokens=request.max_tokens,
            seed=request.seed,
            stop_sequences=request.all_stops(COMPLETION_STOPS if request.prompt.layout == "completion" else ()) or None,
            # Constrained decoding: the answer is exactly one of the labels, so nothing is lost parsing free text.
            response_mime_type=mime_type,
            response_schema=types.Schema(type=types.Type.STRING, enum=list(choices)) if choices else None,
            # JSON outputs: Gemini decodes to the version's JSON Schema as given (not the OpenAPI subset).
            response_json_schema=json_schema if not choices else None,
            thinking_config=(
                types.ThinkingConfig(thinking_budget=self._thinking_budget)
                if self._thinking_budget is not None
                else None
            ),
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            automatic_continuation=False,
        )

    def _generate_one(self, request: GenerationRequest) -> Generation:
        contents, system_instruction = _contents(request.prompt)
        config = self._config(request, system_instruction)
        started = time.perf_counter()
        try:
            response = self._client.models.generate_content(model=self._model, contents=contents, config=config)
        except genai_errors.APIError as error:
            raise self._api_error(error) from error
        # google-genai 2.x sends through httpx by default, 3.x through httpx2: both are caught.
        except (httpx2.TimeoutException, httpx.TimeoutException) as error:
            raise ProviderUnavailableError(
                f"vertex: {self._where} did not answer within {self._timeout_seconds:g} s"
            ) from error
        except (httpx2.TransportError, httpx.TransportError) as error:
            raise ProviderUnavailableError(
                f"vertex: could not reach {self._where}: {error or type(error).__name__}"
            ) from error
        except auth_exceptions.RefreshError as error:
            # google-auth marks refresh failures worth retrying (token endpoint 5xx); the others mean the
            # credentials themselves were refused, which no retry will fix.
            if error.retryable:
                raise ProviderUnavailableError(f"vertex: could not refresh the access token: {error}") from error
            raise ProviderConfigError(f"vertex: the Google credentials were refused: {error}") from error
        except auth_exceptions.TransportError as error:
            raise ProviderUnavailableError(f"vertex: could not reach the Google token endpoint: {error}") from error
        except ValueError as error:
            # json.JSONDecodeError and pydantic's ValidationError: a 200 whose body is not a response.
            raise self._malformed(str(error)) from error
        latency_ms = round((time.perf_counter() - started) * 1000)
        return self._generation(response, latency_ms)

    def _generation(self, response: types.GenerateContentResponse, latency_ms: int) -> Generation:
        usage = response.usage_metadata
        input_tokens = (usage.prompt_token_count or 0) if usage else 0
        answer_tokens = (usage.candidates_token_count or 0) if usage else 0
        thought_tokens = (usage.thoughts_token_count or 0) if usage else 0
        if not response.candidates:
            feedback = response.prompt_feedback
            if feedback is not None and feedback.block_reason is not None:
                detail = f": {feedback.block_reason_message}" if feedback.block_reason_message else ""
                raise ProviderRequestError(
                    f"vertex: the prompt was blocked ({_enum_text(feedback.block_reason)}){detail}"
                )
            raise self._malformed("the response has no candidates")
        finish_reason = _enum_text(response.candidates[0].finish_reason)
        text = response.text or ""  # the first candidate's text parts, without thought parts
        if not text and finish_reason not in ANSWERED:
            raise ProviderRequestError(f"vertex: the model withheld its answer (finish reason {finish_reason})")
        if not text and finish_reason == "MAX_TOKENS" and thought_tokens:
            # Scoring this as an empty answer would silently count every example wrong; it is a settings problem.
            raise ProviderRequestError(
                f"vertex: {self._model} spent its whole output budget thinking ({thought_tokens} tokens) before "
                "answering; raise max_tokens or set a thinking_budget"
            )
        return Generation(
            text=text.strip(),
            input_tokens=input_tokens,
            # Thinking tokens are billed as output, so budgets and cost must count them.
            output_tokens=answer_tokens + thought_tokens,
            latency_ms=latency_ms,
            raw={
                "finish_reason": finish_reason,
                "thought_tokens": thought_tokens,
                "model_version": response.model_version,
            },
        )

    def _malformed(self, detail: str) -> ProviderUnavailableError:
        # A 200 whose body is not a generateContent response is a serving-side fault (a proxy page, a truncated
        # body), not a fault of the request, so it is retryable like a 5xx; the gateway's budget bounds retries.
        return ProviderUnavailableError(f"vertex: {self._where} sent a malformed response: {_truncated(detail)}")

    def _api_error(self, error: genai_errors.APIError) -> ProviderError:
        code = error.code
        reason = error.message or error.status or "no error message"
        message = f"vertex: {self._where} answered {code}: {_truncated(str(reason))}"
        if code in (408, 429) or code >= 500:
            response: Any = error.response
            headers: Any = getattr(response, "headers", None)
            retry_after = retry_after_seconds(headers.get("Retry-After") if headers is not None else None)
            if retry_after is None:
                retry_after = _retry_info_delay(error.details)
            return ProviderUnavailableError(message, retry_after_seconds=retry_after)
        return ProviderRequestError(message)


def _contents(prompt: RenderedPrompt) -> tuple[list[types.Content], str | None]:
    """The conversation as Gemini contents (roles user and model) and the system instruction, if any."""
    if prompt.layout == "completion":
        # The completion text already holds the system instruction and the demonstrations inline.
        return [types.Content(role="user", parts=[types.Part(text=prompt.completion_text)])], None
    system = "\n\n".join(message.content for message in prompt.messages if message.role == "system")
    contents = [
        types.Content(role=ROLES[message.role], parts=[types.Part(text=message.content)])
        for message in prompt.messages
        if message.role != "system"
    ]
    return contents, system or None


def _credentials_from_file(path: str) -> Credentials:
    try:
        credentials: Credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
            path, scopes=[CLOUD_PLATFORM_SCOPE]
        )
    except FileNotFoundError as error:
        raise ProviderConfigError(f"credentials_file {path} does not exist") from error
    except (OSError, ValueError, KeyError) as error:
        # The message names what is wrong (invalid JSON, missing fields); the key's content never appears in it.
        raise ProviderConfigError(
            f"credentials_file {path} is not a service-account key file ({type(error).__name__}: {error})"
        ) from error
    return credentials


def _application_default() -> Credentials:
    try:
        credentials, _project = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    except auth_exceptions.DefaultCredentialsError as error:
        raise ProviderConfigError(
            "provider 'vertex' found no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS (or "
            "VERTEX_CREDENTIALS_FILE) to a service-account key file, or run `gcloud auth application-default "
            f"login` ({_truncated(str(error))})"
        ) from error
    return credentials


def _retry_info_delay(details: Any) -> float | None:
    """The `google.rpc.RetryInfo` delay ("7s") in an error body, which Google APIs send on 429 instead of a header."""
    error = details.get("error") if isinstance(details, dict) else None
    entries = error.get("details") if isinstance(error, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("@type") == RETRY_INFO_TYPE:
            delay = entry.get("retryDelay")
            if isinstance(delay, str) and delay.endswith("s"):
                return retry_after_seconds(delay[:-1])
    return None


def _enum_text(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _truncated(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_MESSAGE_CHARS else text[: MAX_ERROR_MESSAGE_CHARS - 1] + "…"
