"""The held-out verdict: baseline and winner scored on the test split once the search is over."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from prompts.content import PromptContent
from workflows.engine.data import EngineExample
from workflows.engine.scoring import Scorer
from workflows.engine.state import Scored
from workflows.stats import Estimate, PairedComparison, compare_paired, mean_with_interval


@dataclass(frozen=True)
class TestReport:
    baseline_scores: list[Scored]
    winner_scores: list[Scored]  # the baseline's own scores when the search kept the baseline
    baseline: Estimate | None
    winner: Estimate | None
    comparison: PairedComparison | None  # None when the winner is the baseline or too few rows were scored
    examples: int

    @property
    def complete(self) -> bool:
        scored = [item for item in (*self.baseline_scores, *self.winner_scores) if item.score is not None]
        return len(scored) == len(self.baseline_scores) + len(self.winner_scores) == 2 * self.examples


def final_test(
    *,
    scorer: Scorer,
    baseline: PromptContent,
    winner: PromptContent,
    test: Sequence[EngineExample],
    confidence: float,
    seed: int,
) -> TestReport:
    """Score both prompts on every test row; the comparison is paired over rows both managed to score."""
    baseline_scores = scorer.score(baseline, test)
    same = winner.key == baseline.key
    winner_scores = baseline_scores if same else scorer.score(winner, test)

    def estimate(scored: list[Scored]) -> Estimate | None:
        values = [item.score for item in scored if item.score is not None]
        return mean_with_interval(values, confidence=confidence, seed=seed) if values else None

    comparison = None
    if not same:
        winner_by_id = {item.example_id: item.score for item in winner_scores}
        pairs = [
            (item.score, winner_by_id[item.example_id])
            for item in baseline_scores
            if item.score is not None and winner_by_id.get(item.example_id) is not None
        ]
        if len(pairs) >= 2:
            comparison = compare_paired(
                [float(pair[0]) for pair in pairs],
                [float(pair[1] or 0.0) for pair in pairs],
                confidence=confidence,
                seed=seed,
            )
    return TestReport(
        baseline_scores=baseline_scores,
        winner_scores=winner_scores,
        baseline=estimate(baseline_scores),
        winner=estimate(winner_scores),
        comparison=comparison,
        examples=len(test),
    )
