"""The Hugging Face provider: Inference Providers by model id, or any OpenAI-compatible server by base URL.

Chat-layout prompts go through `huggingface_hub.InferenceClient.chat_completion`. With a `base_url` the client
posts to `{base_url}/v1/chat/completions`, which Text Generation Inference, vLLM and the llama.cpp server all
serve; without one it posts to the Hugging Face router, which picks an Inference Provider for the model.

Completion-layout prompts are text to be continued, not a conversation. With a `base_url` they go to the
server's OpenAI-compatible `/v1/completions` route (TGI, vLLM and llama.cpp serve it; the client has no call for
it, so it is posted directly): wrapped in a chat template as a user message, a small model answers the
demonstrations instead of continuing them, which costs it most of what the layout is for. A server without the
route (405, or a 404 that is not an OpenAI-style error) gets them as one chat user message from then on, as the
router always does; the route is part of each request's cache key, so answers from the two never mix.

Retries belong to the gateway: the client makes exactly one attempt per call, and failures are mapped onto the
provider errors in `base.py` (timeouts, 408, 429 and 5xx are retryable; other 4xx are not).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Sequence
from typing import Any

import httpx2
from huggingface_hub import (
    ChatCompletionInputMessage,
    ChatCompletionOutput,
    ChatCompletionOutputMessage,
    InferenceClient,
)
from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError
from huggingface_hub.utils import parse_ratelimit_headers  # type: ignore[attr-defined]  # public, lazily exported

from prompts.rendering import RenderedPrompt
from workflows.gateway.providers.base import (
    ProviderConfigError,
    ProviderError,
    ProviderRequestError,
    ProviderUnavailableError,
)
from workflows.gateway.providers.urls import check_base_url, retry_after_seconds
from workflows.gateway.types import Generation, GenerationRequest

logger = logging.getLogger("promptopt.providers")

DEFAULT_MAX_CONCURRENCY = 8
# Completion-layout prompts separate demonstrations by a blank line, so one ends the answer (as for `local`):
# without it a chat model may carry on writing further made-up examples.
COMPLETION_STOPS = ["\n\n"]
# Error bodies can be whole HTML pages; the start says what went wrong.
MAX_ERROR_MESSAGE_CHARS = 500


class HuggingFaceProvider:
    """Runs prompts on a Hugging Face Inference Provider, or on a self-hosted TGI / vLLM / llama.cpp server.

    Choice outputs are returned as generated text (the metric maps it onto a label): log-probabilities over
    whole labels would need the server to score given continuations, which the chat API does not offer, so
    `choice_logprobs` stays None.
    """

    name = "huggingface"

    def __init__(
        self,
        *,
        model: str | None,
        base_url: str | None,
        token: str | None,
        timeout_seconds: float,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        allow_private_base_url: bool = False,
        allowed_hosts: Collection[str] = (),
    ) -> None:
        # Settings hand over "" for unset values as readily as None.
        model, base_url, token = model or None, (base_url or "").strip() or None, token or None
        # The client treats a URL given as the model as the endpoint itself, which would bypass the base_url check.
        if model is not None and model.strip().lower().startswith(("http://", "https://")):
            raise ProviderConfigError(
                "model must be a model id (e.g. meta-llama/Llama-3.1-8B-Instruct); put URLs in base_url"
            )
        if not timeout_seconds > 0:
            raise ProviderConfigError(f"timeout_seconds must be positive, not {timeout_seconds!r}")
        if max_concurrency < 1:
            raise ProviderConfigError(f"max_concurrency must be at least 1, not {max_concurrency!r}")
        self.max_concurrency = max_concurrency
        self._model = model
        self._timeout_seconds = timeout_seconds
        self._token = token

        if base_url is not None:
            self._base_url: str | None = check_base_url(
                base_url, allow_private=allow_private_base_url, allowed_hosts=allowed_hosts
            )
            self._where = self._base_url
            # Without a token of our own, the client would fall back to the HF token of the machine (HF_TOKEN or
            # `hf auth login`) and send it to whatever server base_url names. An explicit empty Authorization
            # header overrides that fallback, so the deployment's Hub token never leaves for a third-party host.
            headers = {} if token else {"authorization": ""}
            self._client = InferenceClient(
                base_url=self._base_url, token=token, timeout=timeout_seconds, headers=headers
            )
            # Completion-layout prompts are posted to the server's text-completion route by a client of our own
            # (see the module docstring); it never follows redirects, so a 3xx cannot bounce the token elsewhere.
            self._completions_url: str | None = _completions_url(self._base_url)
            self._http = httpx2.Client(
                timeout=timeout_seconds,
                headers={"authorization": f"Bearer {token}"} if token else {},
                follow_redirects=False,
            )
        else:
            if model is None:
                raise ProviderConfigError("provider 'huggingface' needs a model (e.g. HF_MODEL) or a base_url")
            # Checked here rather than left to the client, which would only fail on the first call.
            if token is None:
                raise ProviderConfigError(
                    "provider 'huggingface' needs a token (HF_TOKEN) to use Hugging Face Inference Providers; "
                    "a self-hosted server needs base_url instead"
                )
            if not token.startswith("hf_"):
                raise ProviderConfigError(
                    "token must be a Hugging Face access token (hf_...) to route through Hugging Face Inference "
                    "Providers; to use another provider's own key, set base_url to that provider's endpoint"
                )
            self._base_url = None
            self._completions_url = None  # the router serves chat only
            self._where = "Hugging Face Inference Providers"
            self._client = InferenceClient(model=model, token=token, timeout=timeout_seconds)

    @property
    def model_name(self) -> str:
        # A self-hosted server without a model name is identified by its URL, so that two servers never share
        # cache entries under one name.
        return self._model or self._base_url or ""

    def route(self, request: GenerationRequest) -> str:
        """How this request will be sent (part of its cache key: the model sees different text either way)."""
        if request.prompt.layout == "completion" and self._completions_url is not None:
            return "text-completion"
        return ""  # chat, as every answer cached before the text-completion route existed

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        return [self._generate_one(request) for request in requests]

    def _generate_one(self, request: GenerationRequest) -> Generation:
        completions_url = self._completions_url
        if request.prompt.layout == "completion" and completions_url is not None:
            generation = self._complete_text(request, completions_url)
            if generation is not None:
                return generation
        return self._chat(request)

    def _complete_text(self, request: GenerationRequest, url: str) -> Generation | None:
        """The prompt continued by the server's `/v1/completions`; None when the server has no such route."""
        body: dict[str, Any] = {
            "prompt": request.prompt.completion_text,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "seed": request.seed,
            "stop": request.all_stops(COMPLETION_STOPS),
        }
        if self._model is not None:
            body["model"] = self._model  # vLLM checks it; TGI and llama.cpp accept any
        started = time.perf_counter()
        try:
            response = self._http.post(url, json=body)
        except httpx2.TimeoutException as error:
            raise self._timed_out() from error
        except httpx2.TransportError as error:
            raise self._unreachable(error) from error
        if _route_missing(response):
            # Remembered for the provider's life: every later completion-layout prompt goes straight to chat.
            self._completions_url = None
            logger.warning(
                "huggingface: %s has no /v1/completions route (%s); completion-layout prompts go to its chat route",
                self._where,
                response.status_code,
            )
            return None
        if response.is_redirect:
            # Not followed (the token would go with it), and a redirect will not go away by retrying.
            raise ProviderRequestError(
                f"huggingface: {self._where} redirected the text-completion request ({response.status_code}); "
                "set base_url to where it points"
            )
        if response.status_code >= 400:
            raise self._status_error(response)
        latency_ms = round((time.perf_counter() - started) * 1000)
        return self._text_generation(_response_json(response), latency_ms)

    def _text_generation(self, data: Any, latency_ms: int) -> Generation:
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise self._malformed("the response has no choices", route="completion")
        text = choices[0].get("text")
        if not isinstance(text, str):
            raise self._malformed("the first choice has no text", route="completion")
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        return Generation(
            text=text.strip(),
            input_tokens=_token_count(usage.get("prompt_tokens")),
            output_tokens=_token_count(usage.get("completion_tokens")),
            latency_ms=latency_ms,
            raw={
                "finish_reason": choices[0].get("finish_reason"),
                "served_model": data["model"] if isinstance(data.get("model"), str) else None,
            },
        )

    def _chat(self, request: GenerationRequest) -> Generation:
        messages, layout_stops = _chat_messages(request.prompt)
        stops = request.all_stops(layout_stops or ()) or None
        started = time.perf_counter()
        try:
            output = self._client.chat_completion(
                messages=messages,
                # In base_url mode the URL goes in the client and the model name in the body (vLLM checks it);
                # with the router, the client already holds the model.
                model=self._model if self._base_url is not None else None,
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                seed=request.seed,
                stop=stops,
            )
        except (InferenceTimeoutError, httpx2.TimeoutException) as error:
            raise self._timed_out() from error
        except HfHubHTTPError as error:
            raise self._status_error(error.response) from error
        except httpx2.TransportError as error:
            raise self._unreachable(error) from error
        except ValueError as error:
            # Raised while parsing a 2xx body (json.JSONDecodeError included): see _malformed for why retryable.
            raise self._malformed(str(error)) from error
        latency_ms = round((time.perf_counter() - started) * 1000)
        return self._generation(output, latency_ms)

    def _generation(self, output: ChatCompletionOutput, latency_ms: int) -> Generation:
        # The client fills fields the server left out with None instead of failing, so the shape is checked here.
        choices: Any = output.choices
        if not isinstance(choices, list) or not choices:
            raise self._malformed("the response has no choices")
        message: Any = getattr(choices[0], "message", None)
        if not isinstance(message, ChatCompletionOutputMessage):
            raise self._malformed("the first choice has no message")
        content: Any = message.content
        if content is not None and not isinstance(content, str):
            raise self._malformed("the message content is not text")
        usage: Any = output.usage
        return Generation(
            text=(content or "").strip(),
            input_tokens=_token_count(getattr(usage, "prompt_tokens", None)),
            output_tokens=_token_count(getattr(usage, "completion_tokens", None)),
            latency_ms=latency_ms,
            raw={
                "finish_reason": getattr(choices[0], "finish_reason", None),
                "served_model": output.model if isinstance(output.model, str) else None,
            },
        )

    def _without_token(self, text: str) -> str:
        # A server's error text is quoted into errors that reach predictions, the API, the UI and the logs; a
        # misbehaving server (or proxy) may quote the Authorization header back, so the token is cut out here.
        return text.replace(self._token, "[redacted]") if self._token else text

    def _timed_out(self) -> ProviderUnavailableError:
        return ProviderUnavailableError(f"huggingface: {self._where} did not answer within {self._timeout_seconds:g} s")

    def _unreachable(self, error: Exception) -> ProviderUnavailableError:
        # Connection refused, DNS failure, connection reset: the server may come back, so it is retryable.
        detail = self._without_token(str(error) or type(error).__name__)
        return ProviderUnavailableError(f"huggingface: could not reach {self._where}: {detail}")

    def _malformed(self, detail: str, *, route: str = "chat completion") -> ProviderUnavailableError:
        # A 2xx whose body is not a completion is a fault on the serving side (a proxy's error page, a truncated
        # body, a server restarting), not something wrong with our request, so it is retryable like a 5xx; a
        # server that is simply not OpenAI-compatible fails the same way every time and exhausts the gateway's
        # retry budget with this message.
        shown = _truncated(self._without_token(detail))
        return ProviderUnavailableError(f"huggingface: {self._where} sent a response that is not a {route}: {shown}")

    def _status_error(self, response: httpx2.Response) -> ProviderError:
        status = response.status_code
        shown = _truncated(self._without_token(_server_message(response)))
        message = f"huggingface: {self._where} answered {status}: {shown}"
        if status in (408, 429) or status >= 500:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            if retry_after is None:
                retry_after = _rate_limit_reset(response)
            if retry_after is None:
                retry_after = _estimated_time(response)
            return ProviderUnavailableError(message, retry_after_seconds=retry_after)
        return ProviderRequestError(message)


ChatMessages = list[dict[Any, Any] | ChatCompletionInputMessage]  # what chat_completion accepts


def _route_missing(response: httpx2.Response) -> bool:
    """Whether the server lacks the text-completion route: 405, or a 404 that is not an OpenAI-style error
    (vLLM answers an unknown model name with a 404 carrying {"object": "error", "message": ...}, which must
    reach the user as it is, not send every prompt to chat)."""
    if response.status_code == 405:
        return True
    if response.status_code != 404:
        return False
    data = _response_json(response)
    openai_error = isinstance(data, dict) and (isinstance(data.get("error"), dict) or data.get("object") == "error")
    return not openai_error


def _completions_url(base_url: str) -> str:
    # Same rule as the client's for chat: a base URL that already ends in /v1 is not given a second one.
    root = base_url.rstrip("/")
    return f"{root}/completions" if root.endswith("/v1") else f"{root}/v1/completions"


def _chat_messages(prompt: RenderedPrompt) -> tuple[ChatMessages, list[str] | None]:
    if prompt.layout == "completion":
        return [{"role": "user", "content": prompt.completion_text}], COMPLETION_STOPS
    return [{"role": message.role, "content": message.content} for message in prompt.messages], None


def _token_count(value: object) -> int:
    # Some servers omit usage or send odd values; counting them as 0 keeps the answer, which is still usable.
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _response_json(response: httpx2.Response) -> Any:
    try:
        return response.json()
    except (ValueError, httpx2.ResponseNotRead):
        return None


def _server_message(response: httpx2.Response) -> str:
    """The server's own error message, from the shapes TGI, vLLM, llama.cpp and the HF router use (whole: the
    caller cuts the token out before shortening it, so no part of a quoted token survives the cut)."""
    data = _response_json(response)
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])  # OpenAI, vLLM, llama.cpp: {"error": {"message": ...}}
        if isinstance(error, str) and error:
            return error  # TGI and the HF router: {"error": "...", "error_type": ...}
        for key in ("message", "detail"):  # older vLLM: {"object": "error", "message": ...}; FastAPI: detail
            if isinstance(data.get(key), str) and data[key]:
                return str(data[key])
    try:
        text = response.text.strip()
    except httpx2.ResponseNotRead:
        text = ""
    if text and "html" not in response.headers.get("Content-Type", "").lower() and not text.startswith("<"):
        return text
    return response.reason_phrase or "no error message"


def _rate_limit_reset(response: httpx2.Response) -> float | None:
    # The Hugging Face router announces limits in IETF `RateLimit` headers ("api";r=0;t=55) rather than Retry-After.
    info = parse_ratelimit_headers(response.headers)
    return float(info.reset_in_seconds) if info is not None and info.remaining == 0 else None


def _estimated_time(response: httpx2.Response) -> float | None:
    # A model that is still loading on Hugging Face answers 503 with {"estimated_time": seconds} and no header.
    data = _response_json(response)
    value = data.get("estimated_time") if isinstance(data, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else None


def _truncated(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_MESSAGE_CHARS else text[: MAX_ERROR_MESSAGE_CHARS - 1] + "…"
