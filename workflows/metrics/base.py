"""The runtime contract every metric shares: what it reads, what it returns, and how it is called."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from workflows.metrics.feedback import quote


@dataclass(frozen=True)
class MetricInput:
    """One model output next to what the dataset says it should be."""

    output: str
    expected: str
    accepted_answers: tuple[str, ...] = ()
    inputs: Mapping[str, str] = field(default_factory=dict)

    @property
    def references(self) -> tuple[str, ...]:
        """Every answer that counts as right: the expected output first, then the accepted alternatives.

        The expected output is always accepted, even when a dataset lists alternatives without it. Blank
        references are dropped unless nothing else is left, so a blank expected output next to real
        alternatives does not make an empty output correct.
        """
        unique = tuple(dict.fromkeys((self.expected, *self.accepted_answers)))
        non_blank = tuple(answer for answer in unique if answer.strip())
        return non_blank or (self.expected,)


@dataclass(frozen=True)
class MetricResult:
    score: float
    feedback: str = ""

    def __post_init__(self) -> None:
        # A score outside [0, 1] (or NaN) would silently skew every mean and significance test downstream.
        if not (0.0 <= self.score <= 1.0) or math.isnan(self.score):
            raise ValueError(f"a metric score must lie in [0, 1], got {self.score!r}")


class Metric(Protocol):
    name: str
    binary: bool  # every score is 0 or 1, which is what McNemar's test needs

    def score(self, item: MetricInput) -> MetricResult: ...


def passed(ok: bool, feedback: str) -> MetricResult:
    """The result of a pass/fail check: feedback is kept only when the check failed."""
    return MetricResult(1.0, "") if ok else MetricResult(0.0, feedback)


def clamp_unit(value: float) -> float:
    """Libraries return 100.00000000000004 or 1.0000000000000002 at times; MetricResult refuses those."""
    return min(1.0, max(0.0, value))


def blank_result(output: str, references: tuple[str, ...]) -> MetricResult | None:
    """The result of a similarity metric when either side is blank, or None when neither is.

    Similarity libraries score blank against blank as 0; two blank texts are identical, so they score 1.
    """
    reference_blank = not any(reference.strip() for reference in references)
    if not output.strip():
        return (
            MetricResult(1.0)
            if reference_blank
            else MetricResult(0.0, f"output is empty; expected {quote(references[0])}")
        )
    if reference_blank:
        return MetricResult(0.0, f"expected an empty output but got {quote(output)}")
    return None
