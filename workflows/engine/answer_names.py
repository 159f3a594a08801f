"""Names for the answer field, induced from train pairs by the task model itself.

A template like `Input: {{input}}` / `Output:` says nothing about what the answer is, and a small model then
tends to repeat the input. Shown a few train pairs and asked to complete "the output is the input's", even the
embedded 135M model often names the relation ("opposite" on antonyms, measured on train rows in
docs/benchmarks.md §7). The `name_fields` mutation then tries that name as the answer field (`Opposite:`),
and the search keeps it only if it wins. A name counts only when several samples of pairs agree on it: one
answer from a small model is often noise.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence

from workflows.engine.data import EngineExample
from workflows.engine.strategies.mutations import PHRASE_STOPWORDS, MutationStrategy
from workflows.engine.strategies.registry import AUTO

NAMING_SAMPLES = 8  # prompts asked, each with its own sample of train pairs (one task call each)
PAIRS_PER_SAMPLE = 6
MIN_AGREEMENT = 2  # samples that must give the same name before the search tries it
MAX_NAMES = 2
NAMING_MAX_TOKENS = 8
# Long inputs (and answers) are cut so six pairs fit a small context window; the relation shows in the first characters.
INPUT_CHARS = 300
NAMING_CUE = "In every example above, the output is the input's"
# Words that name no relation: the fields themselves, or a restatement of the question.
NON_NAMES = frozenset(["input", "output", "answer", "same", "example", "examples", "own", "result"])
NAME_WORDS = 3
# Below this many train rows every sample would hold nearly the same pairs, and their agreement would say
# little about the relation.
MIN_TRAIN_ROWS = 2 * PAIRS_PER_SAMPLE
NAME_END = re.compile(r"[^A-Za-z\s-]")


def naming_calls(strategies: Sequence[str], *, train_size: int) -> int:
    """Task calls the run will spend naming the answer: only the mutations strategy ("auto" includes it) uses
    the names, and below MIN_TRAIN_ROWS train rows the question is not asked."""
    uses_names = any(name in (AUTO, MutationStrategy.name) for name in strategies)
    return NAMING_SAMPLES if uses_names and train_size >= MIN_TRAIN_ROWS else 0


def naming_prompts(train: Sequence[EngineExample], *, seed: int) -> list[str]:
    """The completion prompts that ask the task model to name the answer: pairs, then the cue."""
    if len(train) < MIN_TRAIN_ROWS:
        return []
    prompts = []
    for sample in range(NAMING_SAMPLES):
        rng = random.Random(f"{seed}:answer-names:{sample}")  # noqa: S311 - sampling, not secrets
        pairs = rng.sample(list(train), PAIRS_PER_SAMPLE)
        blocks = [f"{_inputs_text(example)}\nOutput: {example.expected[:INPUT_CHARS]}" for example in pairs]
        prompts.append("\n\n".join([*blocks, NAMING_CUE]))
    return prompts


def answer_name(continuation: str) -> str | None:
    """The name in a continuation of the cue (" opposite." gives "Opposite"), or None when it names nothing."""
    text = continuation.strip().splitlines()[0] if continuation.strip() else ""
    text = NAME_END.split(text, maxsplit=1)[0]
    words: list[str] = []
    for word in text.split():  # "opposite of the input" names "opposite"
        if word.casefold() in PHRASE_STOPWORDS or len(words) == NAME_WORDS:
            break
        words.append(word)
    if not words or any(word.casefold() in NON_NAMES for word in words):
        return None
    return " ".join(words).casefold().capitalize()


def agreed_names(continuations: Sequence[str | None]) -> tuple[str, ...]:
    """The names at least MIN_AGREEMENT continuations gave, most frequent first (ties in first-seen order)."""
    counts = Counter(name for text in continuations if text is not None if (name := answer_name(text)))
    agreed = [name for name, count in counts.most_common() if count >= MIN_AGREEMENT]
    return tuple(agreed[:MAX_NAMES])


def _inputs_text(example: EngineExample) -> str:
    if len(example.inputs) == 1:
        (value,) = example.inputs.values()
        return f"Input: {value[:INPUT_CHARS]}"
    fields = example.inputs.items()
    return "\n".join(f"{name.replace('_', ' ').capitalize()}: {value[:INPUT_CHARS]}" for name, value in fields)
