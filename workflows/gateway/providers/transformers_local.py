"""A local `transformers` causal language model (a model folder, or a GGUF file), on CPU or CUDA."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prompts.rendering import RenderedPrompt
from workflows.gateway.providers.base import ProviderConfigError, ProviderRequestError
from workflows.gateway.types import Generation, GenerationRequest

OPTIONAL_GROUP_HINT = "pip install -r requirements-ml.txt (torch==2.13.0, transformers, gguf, accelerate)"
COMPLETION_STOP = "\n\n"


class _Loaded:
    def __init__(self, model: Any, tokenizer: Any, torch: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.torch = torch
        self.lock = threading.Lock()  # one forward pass at a time: the model is shared by threads


_loaded: dict[tuple[Path, str], _Loaded] = {}
_loading_lock = threading.Lock()


def _load(path: Path, device: str) -> _Loaded:
    with _loading_lock:
        key = (path, device)
        if key not in _loaded:
            try:
                import torch
                from transformers import AutoModelForCausalLM, AutoTokenizer
            except ImportError as error:
                raise ProviderConfigError(
                    f"provider 'transformers' needs its optional group: {OPTIONAL_GROUP_HINT}"
                ) from error
            # A .gguf file is de-quantised by transformers; a folder is loaded as it is. Never from a hub.
            folder, gguf = (path.parent, path.name) if path.suffix == ".gguf" else (path, None)
            options: dict[str, Any] = {"local_files_only": True}
            if gguf is not None:
                options["gguf_file"] = gguf
            tokenizer = AutoTokenizer.from_pretrained(folder, **options)
            model: Any = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **options)
            model = model.to(device)
            model.eval()
            _loaded[key] = _Loaded(model, tokenizer, torch)
        return _loaded[key]


class TransformersProvider:
    """Runs prompts on a local transformers model; picks choice labels by log-probability."""

    name = "transformers"
    scores_choices = True

    def __init__(self, *, model_path: Path | str, device: str = "cpu") -> None:
        self._path = Path(model_path)
        if not self._path.exists():
            raise ProviderConfigError(
                f"transformers model {self._path} does not exist (a model folder or a .gguf file)"
            )
        self._device = device

    @property
    def model_name(self) -> str:
        return self._path.name

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        loaded = _load(self._path, self._device)
        with loaded.lock, loaded.torch.inference_mode():
            return [self._generate_one(loaded, request) for request in requests]

    def _prompt_text(self, loaded: _Loaded, prompt: RenderedPrompt) -> tuple[str, str]:
        """The text the model continues, and what separates it from an answer."""
        tokenizer = loaded.tokenizer
        if prompt.layout == "chat" and getattr(tokenizer, "chat_template", None):
            messages = [{"role": message.role, "content": message.content} for message in prompt.messages]
            text: str = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            return text, ""
        return prompt.completion_text, " "

    def _generate_one(self, loaded: _Loaded, request: GenerationRequest) -> Generation:
        started = time.perf_counter()
        text, separator = self._prompt_text(loaded, request.prompt)
        encoded = loaded.tokenizer(text, return_tensors="pt").to(self._device)
        prompt_length = int(encoded["input_ids"].shape[1])
        limit = getattr(loaded.model.config, "max_position_embeddings", None)
        if limit is not None and prompt_length + request.max_tokens > limit:
            raise ProviderRequestError(f"the prompt has {prompt_length} tokens; the model's limit is {limit}")
        if request.prompt.choices:
            scores = self._choice_logprobs(loaded, encoded["input_ids"], request.prompt.choices, separator)
            best = max(scores, key=lambda choice: scores[choice])
            return Generation(
                text=best,
                input_tokens=prompt_length,
                output_tokens=len(loaded.tokenizer(separator + best, add_special_tokens=False)["input_ids"]),
                latency_ms=round((time.perf_counter() - started) * 1000),
                choice_logprobs=scores,
            )
        loaded.torch.manual_seed(request.seed)
        sampling = {"do_sample": True, "temperature": request.temperature} if request.temperature > 0 else {}
        output = loaded.model.generate(
            **encoded,
            max_new_tokens=request.max_tokens,
            pad_token_id=loaded.tokenizer.pad_token_id or loaded.tokenizer.eos_token_id,
            **sampling,
        )
        new_tokens = output[0, prompt_length:]
        answer: str = loaded.tokenizer.decode(new_tokens, skip_special_tokens=True)
        # The next demonstration would start after a blank line; the version's own stops end an answer too.
        for stop in request.all_stops([COMPLETION_STOP] if request.prompt.layout == "completion" else []):
            answer = answer.split(stop, 1)[0]
        return Generation(
            text=answer.strip(),
            input_tokens=prompt_length,
            output_tokens=int(new_tokens.shape[0]),
            latency_ms=round((time.perf_counter() - started) * 1000),
        )

    @staticmethod
    def _choice_logprobs(loaded: _Loaded, prompt_ids: Any, choices: Sequence[str], separator: str) -> dict[str, float]:
        """Sum of the log-probabilities of each choice's tokens after the prompt, one forward pass per choice."""
        torch = loaded.torch
        scores: dict[str, float] = {}
        for choice in choices:
            choice_ids = loaded.tokenizer(separator + choice, add_special_tokens=False, return_tensors="pt")[
                "input_ids"
            ]
            choice_ids = choice_ids.to(prompt_ids.device)
            input_ids = torch.cat([prompt_ids, choice_ids], dim=1)
            logits = loaded.model(input_ids).logits[0].float()
            # Position i predicts token i + 1: the choice's tokens are predicted from the prompt's last position on.
            start = prompt_ids.shape[1] - 1
            log_probs = torch.log_softmax(logits[start : start + choice_ids.shape[1]], dim=-1)
            picked = log_probs.gather(1, choice_ids[0].unsqueeze(1))
            scores[choice] = float(picked.sum())
        return scores
