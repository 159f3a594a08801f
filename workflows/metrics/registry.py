"""Builds runnable metrics from parsed configs through a name -> factory registry."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TypeVar

from workflows.metrics.base import Metric
from workflows.metrics.combine import WeightedMetric
from workflows.metrics.config import (
    ChoiceConfig,
    CombinedMetricConfig,
    EmbeddingSimilarityConfig,
    JsonSchemaConfig,
    MetricConfig,
    MetricConfigBase,
    NumericConfig,
    RegexConfig,
)
from workflows.metrics.embedding import EmbeddingSimilarity, resolve_model_dir
from workflows.metrics.json_output import JsonSchemaMatch, JsonValid
from workflows.metrics.overlap import Bleu, Chrf, RougeL
from workflows.metrics.structured import ChoiceMatch, NumericMatch, RegexMatch
from workflows.metrics.text import AnyAnswer, Contains, ExactMatch, NormalizedMatch, TokenF1

MetricFactory = Callable[[MetricConfigBase], Metric]
ConfigT = TypeVar("ConfigT", bound=MetricConfigBase)


def typed_factory(config_type: type[ConfigT], build: Callable[[ConfigT], Metric]) -> MetricFactory:
    """A registry entry that builds from its own config model and refuses any other."""

    def factory(config: MetricConfigBase) -> Metric:
        if not isinstance(config, config_type):
            raise TypeError(f"the {config.name!r} factory needs a {config_type.__name__}, got {type(config).__name__}")
        return build(config)

    return factory


def _parameterless(build: Callable[[], Metric]) -> MetricFactory:
    return lambda _config: build()


# Metrics that need run-time services (llm_judge needs the model gateway) are added per run rather than
# here: build_metric(config, factories={**METRIC_FACTORIES, "llm_judge": lambda c: Judge(c, gateway)}),
# after a config model for them joins the union in config.py.
METRIC_FACTORIES: Mapping[str, MetricFactory] = MappingProxyType(
    {
        "exact_match": _parameterless(ExactMatch),
        "normalized_match": _parameterless(NormalizedMatch),
        "any_answer": _parameterless(AnyAnswer),
        "contains": _parameterless(Contains),
        "token_f1": _parameterless(TokenF1),
        "chrf": _parameterless(Chrf),
        "bleu": _parameterless(Bleu),
        "rouge_l": _parameterless(RougeL),
        "regex": typed_factory(RegexConfig, lambda config: RegexMatch(config.pattern, config.flags)),
        "numeric": typed_factory(
            NumericConfig, lambda config: NumericMatch(config.tolerance, config.relative_tolerance)
        ),
        "choice": typed_factory(ChoiceConfig, lambda config: ChoiceMatch(config.choices)),
        "json_valid": _parameterless(JsonValid),
        "json_schema": typed_factory(JsonSchemaConfig, lambda config: JsonSchemaMatch(config.json_schema)),
        "embedding_similarity": typed_factory(
            EmbeddingSimilarityConfig, lambda config: EmbeddingSimilarity(resolve_model_dir(config.model_path))
        ),
    }
)


def available_metrics() -> list[str]:
    return sorted(METRIC_FACTORIES)


def build_metric(config: MetricConfig, factories: Mapping[str, MetricFactory] = METRIC_FACTORIES) -> Metric:
    """A ready metric; raises InvalidInputError when something it needs (an optional package) is missing."""
    if isinstance(config, CombinedMetricConfig):
        return WeightedMetric([(build_metric(part.metric, factories), part.weight) for part in config.combine])
    factory = factories.get(config.name)
    if factory is None:
        raise KeyError(f"no factory registered for the metric {config.name!r}")
    return factory(config)
