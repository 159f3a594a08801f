"""Reference-overlap metrics for free text: chrF and BLEU (sacrebleu) and ROUGE-L (rouge-score)."""

from __future__ import annotations

import re
from typing import Any

import sacrebleu

from workflows.metrics.base import MetricInput, MetricResult, blank_result, clamp_unit
from workflows.metrics.feedback import quote


def _similarity(score: float, label: str, references: tuple[str, ...]) -> MetricResult:
    if score == 1.0:
        return MetricResult(1.0)
    return MetricResult(
        score, f"output differs from the expected text ({label} {score:.2f}); expected {quote(references[0])}"
    )


class _SacrebleuSimilarity:
    """Shared scoring for sacrebleu's sentence-level metrics; subclasses name the metric and its scorer."""

    name: str
    label: str
    binary = False

    def _sentence_score(self, output: str, references: list[str]) -> float:
        raise NotImplementedError

    def score(self, item: MetricInput) -> MetricResult:
        references = item.references
        blank = blank_result(item.output, references)
        if blank is not None:
            return blank
        value = clamp_unit(self._sentence_score(item.output.strip(), list(references)) / 100)
        return _similarity(value, self.label, references)


class Chrf(_SacrebleuSimilarity):
    name = "chrf"
    label = "chrF"

    def _sentence_score(self, output: str, references: list[str]) -> float:
        # With several references sacrebleu keeps the best-matching one.
        return float(sacrebleu.sentence_chrf(output, references).score)


class Bleu(_SacrebleuSimilarity):
    name = "bleu"
    label = "BLEU"

    def _sentence_score(self, output: str, references: list[str]) -> float:
        # sentence_bleu smooths and uses the effective n-gram order, so short sentences do not all score 0.
        return float(sacrebleu.sentence_bleu(output, references).score)


class _WordTokenizer:
    """rouge-score's default tokenizer keeps only [a-z0-9], so any non-English text would score 0.

    This keeps letters and digits of every script instead, and is identical to the default on ASCII text.
    """

    _WORD = re.compile(r"[^\W_]+")

    def tokenize(self, text: str) -> list[str]:
        return self._WORD.findall(text.casefold())


class RougeL:
    name = "rouge_l"
    binary = False

    def __init__(self) -> None:
        # Imported here because rouge-score pulls in nltk, which costs more than half a second at start-up.
        from rouge_score import rouge_scorer

        self._scorer: Any = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_WordTokenizer())

    def score(self, item: MetricInput) -> MetricResult:
        references = item.references
        blank = blank_result(item.output, references)
        if blank is not None:
            return blank
        best = self._scorer.score_multi(list(references), item.output.strip())["rougeL"]
        return _similarity(clamp_unit(float(best.fmeasure)), "ROUGE-L F1", references)
