"""A weighted combination of metrics: the weighted mean of their scores, with their feedback joined."""

from __future__ import annotations

import math
from collections.abc import Sequence

from workflows.metrics.base import Metric, MetricInput, MetricResult, clamp_unit


class WeightedMetric:
    name = "combine"

    def __init__(self, components: Sequence[tuple[Metric, float]]) -> None:
        if not components:
            raise ValueError("a combination needs at least one metric")
        if any(not weight > 0 or not math.isfinite(weight) for _, weight in components):
            raise ValueError("combination weights must be finite and greater than 0")
        self.components = tuple(components)
        self._total_weight = math.fsum(weight for _, weight in components)
        # The weighted mean of two pass/fail metrics takes values between 0 and 1, so only a combination
        # of a single pass/fail metric is itself pass/fail.
        self.binary = len(components) == 1 and components[0][0].binary

    def score(self, item: MetricInput) -> MetricResult:
        results = [(metric, weight, metric.score(item)) for metric, weight in self.components]
        mean = math.fsum(weight * result.score for _, weight, result in results) / self._total_weight
        feedback = "; ".join(
            f"{metric.name}: {result.feedback}" for metric, _, result in results if result.score < 1 and result.feedback
        )
        return MetricResult(clamp_unit(mean), feedback)
