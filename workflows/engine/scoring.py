"""Runs a prompt on examples through the task gateway and scores the outputs with the run's metric."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from prompts.content import PromptContent
from prompts.rendering import Message, RenderedPrompt, RenderError, render
from workflows.engine.data import EngineExample
from workflows.engine.state import Scored
from workflows.gateway.gateway import Gateway
from workflows.gateway.types import GenerationRequest
from workflows.metrics import Metric, MetricInput

# Calls are sent a chunk at a time so a cancel request is seen within one chunk, not one whole step.
CHUNK_SIZE = 16


class SearchCancelled(Exception):
    """Raised between chunks when the run was cancelled; the step in progress is not recorded."""


class Scorer:
    """Task-model inference and metric scoring for one run (the metric's feedback feeds the optimizer)."""

    def __init__(
        self,
        *,
        gateway: Gateway,
        metric: Metric,
        seed: int,
        should_stop: Callable[[], bool] = lambda: False,
        on_examples: Callable[[int], None] | None = None,
    ) -> None:
        """`should_stop` is polled between chunks; `on_examples(n)` hears about every chunk of n rows run."""
        self._on_examples = on_examples
        self._gateway = gateway
        self._metric = metric
        self._seed = seed
        self._should_stop = should_stop

    @property
    def metric_is_binary(self) -> bool:
        return bool(self._metric.binary)

    def infer(self, content: PromptContent, examples: Sequence[EngineExample]) -> list[Scored]:
        """The task model's output for each example, unscored; a failed or unrun call keeps its reason."""
        outputs: list[Scored] = []
        for start in range(0, len(examples), CHUNK_SIZE):
            if self._should_stop():
                raise SearchCancelled
            chunk = examples[start : start + CHUNK_SIZE]
            requests: list[GenerationRequest] = []
            renderable: list[EngineExample] = []
            for example in chunk:
                try:
                    prompt = render(content, example.inputs, example_label=example.label or str(example.id))
                except RenderError as error:
                    outputs.append(Scored(example_id=example.id, error=str(error)))
                    continue
                renderable.append(example)
                requests.append(
                    GenerationRequest(
                        prompt=prompt,
                        temperature=content.temperature,
                        max_tokens=content.max_tokens,
                        seed=self._seed,
                        stop=content.stop,
                    )
                )
            for example, result in zip(renderable, self._gateway.run(requests), strict=True):
                generation = result.generation
                if generation is None:
                    reason = f"not run: {result.error}" if result.not_run else result.error
                    outputs.append(Scored(example_id=example.id, error=reason or "no output", not_run=result.not_run))
                    continue
                outputs.append(
                    Scored(
                        example_id=example.id,
                        output=generation.text,
                        cached=result.cached,
                        input_tokens=generation.input_tokens,
                        output_tokens=generation.output_tokens,
                        latency_ms=generation.latency_ms,
                    )
                )
            if self._on_examples is not None:
                self._on_examples(len(chunk))
        order = {example.id: position for position, example in enumerate(examples)}
        return sorted(outputs, key=lambda scored: order[scored.example_id])

    def complete(self, texts: Sequence[str], *, max_tokens: int) -> list[str | None]:
        """The task model's greedy continuation of each plain text (None where the call failed or was not run):
        for questions the engine asks the task model itself, outside any prompt of the run."""
        if self._should_stop():
            raise SearchCancelled
        requests = [
            GenerationRequest(
                prompt=RenderedPrompt(
                    layout="completion",
                    messages=(Message(role="user", content=text),),
                    completion_text=text,
                    choices=(),
                ),
                temperature=0.0,
                max_tokens=max_tokens,
                seed=self._seed,
            )
            for text in texts
        ]
        results = self._gateway.run(requests) if requests else []
        return [result.generation.text if result.generation is not None else None for result in results]

    def evaluate(self, outputs: Sequence[Scored], examples: Mapping[int, EngineExample]) -> list[Scored]:
        """The outputs with the metric's score and feedback; outputs without text stay unscored."""
        scored = []
        for item in outputs:
            if item.error:
                scored.append(item)
                continue
            example = examples[item.example_id]
            result = self._metric.score(
                MetricInput(
                    output=item.output,
                    expected=example.expected,
                    accepted_answers=example.accepted_answers,
                    inputs=example.inputs,
                )
            )
            scored.append(item.model_copy(update={"score": result.score, "feedback": result.feedback}))
        return scored

    def score(self, content: PromptContent, examples: Sequence[EngineExample]) -> list[Scored]:
        return self.evaluate(self.infer(content, examples), {example.id: example for example in examples})


def mean_score(scored: Sequence[Scored]) -> float | None:
    values = [item.score for item in scored if item.score is not None]
    return sum(values) / len(values) if values else None
