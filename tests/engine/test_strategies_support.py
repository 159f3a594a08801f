"""Small hand-made proposal contexts and a scripted optimizer model shared by the strategy tests (no tests here)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prompts.content import PromptContent
from workflows.engine.data import EngineExample, label_set
from workflows.engine.strategies.base import HistoryEntry, Observation, ProposalContext

REVIEWS = [
    ("A delight from start to finish.", "positive"),
    ("Dull, slow and far too long.", "negative"),
    ("The cast is wonderful and the script sparkles.", "positive"),
    ("I walked out after an hour.", "negative"),
    ("Funny, warm and beautifully shot.", "positive"),
    ("A mess of a plot with wooden acting.", "negative"),
    ("I would happily watch it again.", "positive"),
    ("Not worth the ticket price.", "negative"),
]

SENTIMENT_PROMPT = PromptContent(template="Classify the sentiment of the review.\nReview: {{text}}")


def sentiment_train() -> tuple[EngineExample, ...]:
    return tuple(
        EngineExample(id=index, inputs={"text": text}, expected=label)
        for index, (text, label) in enumerate(REVIEWS, start=1)
    )


def observations_of(train: tuple[EngineExample, ...], wrong_ids: set[int]) -> tuple[Observation, ...]:
    """The incumbent's outputs: "positive" for every example, so the negative ones in `wrong_ids` failed."""
    observations = [
        Observation(
            inputs=example.inputs,
            expected=example.expected,
            output="positive" if example.id in wrong_ids else example.expected,
            score=0.0 if example.id in wrong_ids else 1.0,
            feedback="expected a different label" if example.id in wrong_ids else "",
        )
        for example in train
    ]
    return tuple(sorted(observations, key=lambda observation: observation.score))


def sentiment_context(
    *,
    incumbent: PromptContent = SENTIMENT_PROMPT,
    seed: int = 7,
    iteration: int = 1,
    history: tuple[HistoryEntry, ...] = (),
    optimizer: object | None = None,
    with_labels: bool = True,
    bootstrapped: bool = False,
    provider_scores_choices: bool = True,
) -> ProposalContext:
    train = sentiment_train()
    return ProposalContext(
        incumbent=incumbent,
        incumbent_score=0.5,
        observations=observations_of(train, {2, 4}),
        train=train,
        history=history,
        labels=label_set(train) if with_labels else (),
        input_fields=("text",),
        bootstrapped_demos=((train[0].inputs, "positive"), (train[2].inputs, "positive")) if bootstrapped else (),
        provider_scores_choices=provider_scores_choices,
        iteration=iteration,
        seed=seed,
        optimizer=optimizer,  # type: ignore[arg-type]
    )


def open_answer_context(*, seed: int = 3) -> ProposalContext:
    """A task whose answers are not a label set (each answer differs)."""
    train = tuple(
        EngineExample(id=index, inputs={"question": question}, expected=answer)
        for index, (question, answer) in enumerate(
            [
                ("What is the capital of France?", "Paris"),
                ("Who wrote Hamlet?", "William Shakespeare"),
                ("What is the largest planet?", "Jupiter"),
                ("What gas do plants absorb?", "carbon dioxide"),
                ("How many legs does a spider have?", "eight"),
            ],
            start=1,
        )
    )
    assert label_set(train) == ()
    return ProposalContext(
        incumbent=PromptContent(template="Question: {{question}}"),
        incumbent_score=0.4,
        observations=observations_of(train, {1, 2}),
        train=train,
        history=(),
        labels=(),
        input_fields=("question",),
        bootstrapped_demos=(),
        provider_scores_choices=False,
        iteration=1,
        seed=seed,
    )


@dataclass
class ScriptedOptimizer:
    """An OptimizerModel that answers from a script, in order, and records every request it received."""

    answers: list[str | None]
    requests: list[dict[str, object]] = field(default_factory=list)

    def complete(self, *, system: str, user: str, json_schema: object = None) -> str | None:
        self.requests.append({"system": system, "user": user, "json_schema": json_schema})
        return self.answers.pop(0) if self.answers else None
