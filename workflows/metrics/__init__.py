"""Scores a model output against a dataset example: a score in [0, 1] plus feedback saying what was wrong."""

from workflows.metrics.base import Metric, MetricInput, MetricResult
from workflows.metrics.config import MetricConfig, parse_metric_config
from workflows.metrics.registry import available_metrics, build_metric

__all__ = [
    "Metric",
    "MetricConfig",
    "MetricInput",
    "MetricResult",
    "available_metrics",
    "build_metric",
    "parse_metric_config",
]
