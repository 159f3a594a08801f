"""Metrics for constrained outputs: a regular expression, a number within tolerance, one of fixed choices."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from promptopt.safe_regex import compile_pattern
from workflows.metrics.base import MetricInput, MetricResult, passed
from workflows.metrics.feedback import closest, quote, quote_all
from workflows.metrics.normalize import contains_phrase, normalize_label


class RegexMatch:
    name = "regex"
    binary = True

    def __init__(self, pattern: str, flags: str = "") -> None:
        # RE2, not `re`: a user's pattern must not be able to take exponential time on a model's output.
        self.pattern = pattern
        self._compiled = compile_pattern(pattern, flags)

    def score(self, item: MetricInput) -> MetricResult:
        output = item.output.strip()
        matched = self._compiled.fullmatch(output) is not None
        subject = "output is empty and" if not output else f"output {quote(output)}"
        return passed(matched, f"{subject} does not match the pattern {quote(self.pattern)}")


# A number: optional sign (ASCII or Unicode minus), optional dollar sign, then either digits grouped by
# thousands commas or plain digits, an optional fraction and exponent. The look-behind keeps the "-" of a
# range such as "3-4" and the digits inside words such as "v2" from being read as numbers.
_NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>[-\u2212+]?)\$?"
    r"(?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?P<exponent>[eE][-+]?\d+)?(?!\d)"
)
_FINAL_ANSWER_MARK = "####"  # GSM8K puts the final answer after "####", below the worked solution


def extract_number(text: str) -> float | None:
    """The last number in the text; after a GSM8K "####" marker, the first number following the last marker."""
    _, mark, tail = text.rpartition(_FINAL_ANSWER_MARK)
    # Chatter after the marker ("#### 13 ... hope these 2 steps help") must not replace the marked answer.
    matches = list(_NUMBER.finditer(tail)) if mark else list(_NUMBER.finditer(text))[-1:]
    if not matches:
        return None
    number = matches[0]
    sign = "-" if number["sign"] in ("-", "\u2212") else ""
    return float(sign + number["digits"].replace(",", "") + (number["exponent"] or ""))


def _show(number: float) -> str:
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)


class NumericMatch:
    name = "numeric"
    binary = True

    def __init__(self, tolerance: float = 1e-6, relative_tolerance: float = 0.0) -> None:
        self.tolerance = tolerance
        self.relative_tolerance = relative_tolerance

    def score(self, item: MetricInput) -> MetricResult:
        expected = extract_number(item.expected)
        if expected is None:
            return MetricResult(0.0, f"the expected output {quote(item.expected)} contains no number to compare with")
        got = extract_number(item.output)
        if got is None:
            return MetricResult(0.0, f"output contains no number; expected {_show(expected)}")
        close = math.isclose(got, expected, rel_tol=self.relative_tolerance, abs_tol=self.tolerance)
        return passed(close, f"expected {_show(expected)} but the last number in the output is {_show(got)}")


class ChoiceMatch:
    """The output is mapped to one label; without configured choices only its first line is read."""

    name = "choice"
    binary = True

    def __init__(self, choices: Sequence[str] | None = None) -> None:
        self.choices = tuple(choices or ())
        self._labels = [normalize_label(choice) for choice in self.choices]

    def _label(self, output: str) -> tuple[str | None, str]:
        """The label the output names as (normalised, as shown), or (None, why no single label was found)."""
        first_line = output.strip().partition("\n")[0].strip()
        label = normalize_label(first_line)
        if not self.choices:
            return label, first_line
        if label in self._labels:
            return label, self.choices[self._labels.index(label)]
        text = normalize_label(output)
        named = [index for index, choice_label in enumerate(self._labels) if contains_phrase(text, choice_label)]
        if len(named) == 1:
            return self._labels[named[0]], self.choices[named[0]]
        if named:
            return None, f"output names several choices ({quote_all([self.choices[i] for i in named])}) instead of one"
        feedback = f"output names none of the choices {quote_all(self.choices)}"
        hint = closest(label, self.choices, compare=self._labels)
        return None, feedback + (f"; its first line is closest to {quote(hint)}" if hint else "")

    def score(self, item: MetricInput) -> MetricResult:
        expected = item.expected.strip()
        if not item.output.strip():
            return MetricResult(0.0, f"output is empty; expected {quote(expected)}")
        label, shown = self._label(item.output)
        if label is None:
            return MetricResult(0.0, shown)
        return passed(label == normalize_label(expected), f"expected {quote(expected)} but got {quote(shown)}")
