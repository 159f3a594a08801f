"""How much a candidate may generate during the search: what the train targets need, plus a margin.

A prompt created with the default max_tokens of 256 lets a chatty candidate generate 256 tokens on every
call, though the answers the metric compares against are a word or two: most of a run's time would go into
text that is scored wrong anyway. The bound is taken from the targets' UTF-8 length in bytes, an upper bound
on their token count under any byte-level BPE tokenizer (every token covers at least one byte), so it needs
no tokenizer of the task model; the margin leaves room for a leading space, a label prefix or a closing
quote. The prompt's own max_tokens stays the upper limit, and a winner keeps the bound it was validated with.

The baseline itself runs within the bound on train (where the search looks for what to change) but as written
on validation and test: that is the prompt a change must beat. Its trimmed copy is a proposal of its own
(`Engine._bound_proposal`), kept only when it beats the baseline as written beyond noise, like any other. Before,
the search compared every candidate with the trimmed baseline and, when none beat it, returned the baseline as
written, whose test score could be far below the validation score the search had seen.

Likewise for lines: when every train answer is one line, a candidate's answer ends at its first line break (a
stop sequence the winner keeps). A small model continuing `Output:` often writes its answer and then an
"Explanation: ..." line; the metric compares the whole output, so an answer that was right would score wrong,
and the tokens after it cost time. DSPy's adapters read only the answer field back for the same reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from prompts.content import PromptContent
from prompts.version_validation import MAX_STOPS
from workflows.engine.data import EngineExample

# Metrics that judge the whole answer against the target, so an answer much longer than every target cannot
# score better. Not `contains`, `llm_judge`, `embedding_similarity`, `regex` or the JSON checks: there a longer
# answer may be the right one, and the search keeps the prompt's own max_tokens.
ANSWER_METRICS = frozenset(
    {"exact_match", "normalized_match", "any_answer", "choice", "numeric", "token_f1", "chrf", "bleu", "rouge_l"}
)

# Room beyond the longest target: a quarter more, and a few tokens for whitespace, quotes or a prefix.
RELATIVE_MARGIN = 0.25
ABSOLUTE_MARGIN = 8
LINE_END = "\n"


@dataclass(frozen=True)
class OutputBound:
    """What the train targets justify: at most `max_tokens` tokens (None: the prompt's own setting), and
    whether an answer ends at its first line break."""

    max_tokens: int | None = None
    one_line: bool = False


def output_bound(train: Sequence[EngineExample], *, metric_name: str) -> OutputBound:
    """The bound the search runs every candidate under."""
    return OutputBound(
        max_tokens=output_token_bound(train, metric_name=metric_name),
        one_line=one_line_answers(train, metric_name=metric_name),
    )


def one_line_answers(train: Sequence[EngineExample], *, metric_name: str) -> bool:
    """True when the metric judges the whole answer and no train target or accepted answer spans lines."""
    if metric_name not in ANSWER_METRICS or not train:
        return False
    return all(
        LINE_END not in answer.strip() for example in train for answer in (example.expected, *example.accepted_answers)
    )


def output_token_bound(train: Sequence[EngineExample], *, metric_name: str) -> int | None:
    """The most tokens the train targets justify; None when the metric may reward a longer answer or a
    target is empty (nothing says how long an answer should be)."""
    if metric_name not in ANSWER_METRICS:
        return None
    lengths = []
    for example in train:
        answers = [example.expected, *example.accepted_answers]
        longest = max(len(answer.strip().encode("utf-8")) for answer in answers)
        if longest == 0:
            return None
        lengths.append(longest)
    if not lengths:
        return None
    return math.ceil(max(lengths) * (1 + RELATIVE_MARGIN)) + ABSOLUTE_MARGIN


def within_bound(content: PromptContent, bound: OutputBound) -> PromptContent:
    """The content with its max_tokens no higher than the bound's, and ending at a line break when the bound
    says answers are one line (unchanged where it already complies)."""
    changes: dict[str, object] = {}
    if bound.max_tokens is not None and content.max_tokens > bound.max_tokens:
        changes["max_tokens"] = bound.max_tokens
    # A prompt that already has as many stops as providers take keeps its own.
    if bound.one_line and LINE_END not in content.stop and len(content.stop) < MAX_STOPS:
        changes["stop"] = (*content.stop, LINE_END)
    return content.edit(**changes) if changes else content
