"""The embedded provider on the real SmolLM2 model: generation, choice scoring by log-probability, limits."""

from __future__ import annotations

import numpy as np
import pytest

from prompts.content import PromptContent
from prompts.rendering import render
from workflows.gateway.providers.base import ProviderConfigError, ProviderRequestError
from workflows.gateway.providers.local import LocalProvider, _load
from workflows.gateway.types import GenerationRequest

pytestmark = pytest.mark.integration

SENTIMENT = PromptContent(
    template="Review: {{text}}\nSentiment:",
    demonstrations=(({"text": "Loved every minute."}, "positive"), ({"text": "A dull, boring mess."}, "negative")),
    layout="completion",
    output_type="choice",
    output_choices=("positive", "negative"),
)


@pytest.fixture(scope="module")
def provider():
    return LocalProvider()


def test_it_generates_text_with_token_usage(provider):
    spec = PromptContent(template="Question: {{q}}\nAnswer:", layout="completion")

    [generation] = provider.generate([GenerationRequest(prompt=render(spec, {"q": "What is 2 + 2?"}), max_tokens=8)])

    assert generation.text  # the model said something, and stopped within the budget
    assert generation.input_tokens > 5 and 0 < generation.output_tokens <= 8
    assert generation.choice_logprobs is None


def test_a_versions_stop_sequence_ends_the_answer_where_it_appears(provider):
    spec = PromptContent(template="Write a short story about a cat.\nStory:", layout="completion")
    prompt = render(spec, {})

    [free] = provider.generate([GenerationRequest(prompt=prompt, max_tokens=24)])
    [stopped] = provider.generate([GenerationRequest(prompt=prompt, max_tokens=24, stop=("e",))])

    assert "e" in free.text  # without the stop the same answer goes past the first "e"
    assert "e" not in stopped.text and free.text.startswith(stopped.text)
    assert stopped.output_tokens < free.output_tokens


def test_it_picks_a_choice_by_log_probability(provider):
    requests = [GenerationRequest(prompt=render(SENTIMENT, {"text": text})) for text in ("Wonderful!", "Awful.")]

    first, second = provider.generate(requests)

    for generation in (first, second):
        assert generation.text in ("positive", "negative")
        assert set(generation.choice_logprobs) == {"positive", "negative"}
        assert all(value < 0 for value in generation.choice_logprobs.values())
        assert generation.text == max(generation.choice_logprobs, key=generation.choice_logprobs.get)
    assert (first.text, second.text) == ("positive", "negative")


def test_it_scores_choices_exactly_as_a_fresh_evaluation_would(provider):
    rendered = render(SENTIMENT, {"text": "Not bad at all."})
    [generation] = provider.generate([GenerationRequest(prompt=rendered)])
    llama = _load(provider._path, context_tokens=2048, threads=2).llama

    # Reference: evaluate prompt + choice from scratch, no rewinding, and sum the log-softmax of the choice.
    for choice, rewound in generation.choice_logprobs.items():
        prompt_tokens = llama.tokenize(rendered.completion_text.encode(), add_bos=True, special=True)
        choice_tokens = llama.tokenize((" " + choice).encode(), add_bos=False, special=False)
        llama.reset()
        llama.eval(prompt_tokens + choice_tokens)
        rows = np.asarray(llama.scores[len(prompt_tokens) - 1 : len(prompt_tokens) - 1 + len(choice_tokens)])
        rows = rows.astype(np.float64)
        expected = float(np.sum(rows[np.arange(len(choice_tokens)), choice_tokens] - np.logaddexp.reduce(rows, axis=1)))
        assert rewound == pytest.approx(expected, abs=1e-3)


def test_it_reuses_the_shared_prompt_prefix_without_changing_choice_scores(provider):
    texts = ("Not bad at all.", "Not bad at all, really.", "Awful.")
    llama = _load(provider._path, context_tokens=2048, threads=2).llama
    fresh = []
    for text in texts:
        llama.reset()
        fresh.extend(provider.generate([GenerationRequest(prompt=render(SENTIMENT, {"text": text}))]))

    # In one batch, after a text generation on the same demonstrations: each call reads only what differs.
    text_spec = PromptContent(template=SENTIMENT.template, demonstrations=SENTIMENT.demonstrations, layout="completion")
    provider.generate([GenerationRequest(prompt=render(text_spec, {"text": "Fine."}), max_tokens=2)])
    reused = provider.generate([GenerationRequest(prompt=render(SENTIMENT, {"text": text})) for text in texts])

    for first, second in zip(fresh, reused, strict=True):
        assert second.text == first.text
        for choice, value in first.choice_logprobs.items():
            assert second.choice_logprobs[choice] == pytest.approx(value, abs=1e-3)


def test_it_formats_chat_prompts_with_the_models_chat_template(provider):
    spec = PromptContent(template="{{q}}", system_instruction="Answer briefly.", layout="chat")
    model = _load(provider._path, context_tokens=2048, threads=2)

    text, separator, stops = provider._prompt_text(model, render(spec, {"q": "Hi"}))

    assert text.startswith("<|im_start|>system\nAnswer briefly.<|im_end|>")
    assert text.endswith("<|im_start|>assistant\n") and separator == ""
    assert stops == ["<|im_end|>"] or "<|im_end|>" in stops


def test_it_refuses_a_prompt_longer_than_the_context(provider):
    spec = PromptContent(template="{{text}}", layout="completion")
    long_text = "word " * 3000

    with pytest.raises(ProviderRequestError, match="exceeds the local model's context of 2048 tokens"):
        provider.generate([GenerationRequest(prompt=render(spec, {"text": long_text}), max_tokens=16)])


def test_it_names_a_missing_model_file(tmp_path):
    with pytest.raises(ProviderConfigError, match=r"does-not-exist\.gguf does not exist"):
        LocalProvider(model_path=tmp_path / "does-not-exist.gguf")
