"""How many tokens a candidate may generate during the search: what the train targets need, plus a margin.

A prompt created with the default max_tokens of 256 lets a chatty candidate generate 256 tokens on every
call, though the answers the metric compares against are a word or two: most of a run's time would go into
text that is scored wrong anyway. The bound is taken from the targets' UTF-8 length in bytes, an upper bound
on their token count under any byte-level BPE tokenizer (every token covers at least one byte), so it needs
no tokenizer of the task model; the margin leaves room for a leading space, a label prefix or a closing
quote. The prompt's own max_tokens stays the upper limit, and a winner keeps the bound it was validated with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from prompts.content import PromptContent
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


def within_bound(content: PromptContent, bound: int | None) -> PromptContent:
    """The content with its max_tokens no higher than `bound` (unchanged when None or already lower)."""
    if bound is None or content.max_tokens <= bound:
        return content
    return content.edit(max_tokens=bound)
