"""The examples a search may read: train and validation only. The test split has no place in these types."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Expected outputs form a "label set" (a candidate may constrain answers to it) when the train split has at
# most this many distinct answers and each shows up more than once on average.
MAX_LABELS = 12


@dataclass(frozen=True)
class EngineExample:
    id: int
    inputs: Mapping[str, str]
    expected: str
    accepted_answers: tuple[str, ...] = ()
    label: str = ""  # how errors name the example (e.g. "row 12"); its id when blank


@dataclass(frozen=True)
class SearchData:
    """What the search is allowed to see. Built by the caller from the train and validation splits only;
    the final test examples are handed to `final_test` after the search has returned, never to the engine."""

    train: tuple[EngineExample, ...]
    validation: tuple[EngineExample, ...]
    input_fields: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.train:
            raise ValueError("the train split is empty: the search needs examples to learn from")
        if not self.validation:
            raise ValueError("the validation split is empty: candidates cannot be compared without it")
        overlap = {example.id for example in self.train} & {example.id for example in self.validation}
        if overlap:
            raise ValueError(f"examples {sorted(overlap)[:5]} are in both train and validation")

    def by_id(self) -> dict[int, EngineExample]:
        return {example.id: example for example in (*self.train, *self.validation)}


def label_set(examples: Sequence[EngineExample]) -> tuple[str, ...]:
    """The distinct expected outputs, most frequent first, when they look like class labels; else ()."""
    counts = Counter(example.expected.strip() for example in examples if example.expected.strip())
    if not counts or len(counts) > MAX_LABELS or len(counts) * 2 > len(examples):
        return ()
    return tuple(label for label, _count in sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def as_lookup(examples: Sequence[EngineExample]) -> Mapping[int, EngineExample]:
    return {example.id: example for example in examples}
