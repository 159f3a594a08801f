"""Answer metrics on plain text: exact, normalised and any-answer match, containment and token F1."""

from __future__ import annotations

from collections import Counter

from workflows.metrics.base import MetricInput, MetricResult, passed
from workflows.metrics.feedback import closest, quote, quote_all
from workflows.metrics.normalize import answer_tokens, contains_phrase, normalize_answer


def _empty_output(expected: str) -> str:
    return f"output is empty; expected {quote(expected)}"


class ExactMatch:
    name = "exact_match"
    binary = True

    def score(self, item: MetricInput) -> MetricResult:
        output, expected = item.output.strip(), item.expected.strip()
        if not output:
            return passed(not expected, _empty_output(expected))
        feedback = f"expected {quote(expected)} but got {quote(output)}"
        if normalize_answer(output) == normalize_answer(expected):
            # Tells the optimizer that the content is right and only the surface form must change.
            feedback += " (they differ only in letter case, punctuation, articles or spacing)"
        return passed(output == expected, feedback)


class NormalizedMatch:
    name = "normalized_match"
    binary = True

    def score(self, item: MetricInput) -> MetricResult:
        output, expected = item.output.strip(), item.expected.strip()
        if not output:
            return passed(not normalize_answer(expected), _empty_output(expected))
        same = normalize_answer(output) == normalize_answer(expected)
        return passed(same, f"expected {quote(expected)} but got {quote(output)}")


class AnyAnswer:
    name = "any_answer"
    binary = True

    def score(self, item: MetricInput) -> MetricResult:
        output = item.output.strip()
        answers = item.references
        normalized_answers = [normalize_answer(answer) for answer in answers]
        normalized_output = normalize_answer(output)
        if normalized_output in normalized_answers:
            return MetricResult(1.0)
        if len(answers) == 1:
            if not output:
                return MetricResult(0.0, _empty_output(answers[0]))
            return MetricResult(0.0, f"expected {quote(answers[0])} but got {quote(output)}")
        feedback = f"{quote(output)} matches none of the {len(answers)} accepted answers"
        if not output:
            feedback = f"output is empty; accepted answers are {quote_all(answers)}"
        hint = closest(normalized_output, answers, compare=normalized_answers)
        return MetricResult(0.0, feedback + (f"; closest is {quote(hint)}" if hint else ""))


class Contains:
    name = "contains"
    binary = True

    def score(self, item: MetricInput) -> MetricResult:
        output = normalize_answer(item.output)
        answers = item.references
        for answer in answers:
            phrase = normalize_answer(answer)
            # An answer that normalises to nothing (e.g. "The.") would be "contained" in every output,
            # so it only matches an output that normalises to nothing as well.
            found = contains_phrase(output, phrase) if phrase else not output
            if found:
                return MetricResult(1.0)
        if len(answers) == 1:
            return MetricResult(0.0, f"output does not contain {quote(answers[0])}")
        return MetricResult(0.0, f"output contains none of the accepted answers {quote_all(answers)}")


def _token_f1(predicted: list[str], gold: list[str]) -> float:
    # SQuAD's definition: a blank side scores 1 only against another blank side.
    if not predicted or not gold:
        return float(predicted == gold)
    shared = sum((Counter(predicted) & Counter(gold)).values())
    if shared == 0:
        return 0.0
    precision, recall = shared / len(predicted), shared / len(gold)
    return 2 * precision * recall / (precision + recall)


class TokenF1:
    name = "token_f1"
    binary = False

    def score(self, item: MetricInput) -> MetricResult:
        predicted = answer_tokens(item.output)
        scored = [(_token_f1(predicted, answer_tokens(answer)), answer) for answer in item.references]
        best_score, best_answer = max(scored, key=lambda pair: pair[0])
        if best_score == 1.0:
            return MetricResult(1.0)
        if not predicted:
            return MetricResult(0.0, _empty_output(best_answer))
        gold = answer_tokens(best_answer)
        missing = list((Counter(gold) - Counter(predicted)).elements())
        extra = list((Counter(predicted) - Counter(gold)).elements())
        problems = [f"misses {quote_all(missing)}"] if missing else []
        problems += [f"adds {quote_all(extra)}"] if extra else []
        return MetricResult(best_score, f"output {' and '.join(problems)} compared with {quote(best_answer)}")
