"""The transformers provider on the embedded SmolLM2 weights (de-quantised from the GGUF file, offline)."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers", reason="the optional ML group (requirements-ml.txt) is not installed")

from prompts.content import PromptContent
from prompts.rendering import render
from workflows.gateway.providers.base import ProviderConfigError
from workflows.gateway.providers.local import default_model_path
from workflows.gateway.providers.transformers_local import TransformersProvider
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
    return TransformersProvider(model_path=default_model_path())


def test_it_picks_choices_by_log_probability_and_generates_text(provider):
    choice_requests = [GenerationRequest(prompt=render(SENTIMENT, {"text": t})) for t in ("Wonderful!", "Awful.")]
    free = PromptContent(template="Question: {{q}}\nAnswer:", layout="completion")

    first, second, answer = provider.generate(
        [*choice_requests, GenerationRequest(prompt=render(free, {"q": "What colour is the sky?"}), max_tokens=6)]
    )

    assert (first.text, second.text) == ("positive", "negative")
    assert set(first.choice_logprobs) == {"positive", "negative"}
    assert first.choice_logprobs["positive"] > first.choice_logprobs["negative"]
    assert answer.text and 0 < answer.output_tokens <= 6 and answer.input_tokens > 5


def test_it_names_a_missing_model(tmp_path):
    with pytest.raises(ProviderConfigError, match="does not exist"):
        TransformersProvider(model_path=tmp_path / "nothing-here")
