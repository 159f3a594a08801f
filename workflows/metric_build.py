"""Builds a run's or an evaluation's metric from its config; an LLM judge calls its model through a gateway."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from workflows.gateway.gateway import Gateway
from workflows.gateway.types import GenerationRequest
from workflows.metrics import Metric, build_metric, parse_metric_config
from workflows.metrics.config import LlmJudgeConfig, MetricConfigBase
from workflows.metrics.judge import LlmJudge
from workflows.metrics.registry import METRIC_FACTORIES

# (judge provider or None for the caller's default, judge model or None) -> the gateway the judge calls through
JudgeGatewayFactory = Callable[[str | None, str | None], Gateway]


def metric_build(config: Mapping[str, Any], *, judge_gateway: JudgeGatewayFactory) -> Metric:
    def judge(judge_config: MetricConfigBase) -> Metric:
        assert isinstance(judge_config, LlmJudgeConfig)  # noqa: S101 - the registry routes by name
        gateway = judge_gateway(judge_config.provider, judge_config.model)

        def ask(requests: Sequence[GenerationRequest]) -> list[str | None]:
            return [result.generation.text if result.generation else None for result in gateway.run(requests)]

        return LlmJudge(rubric=judge_config.rubric, ask=ask)

    return build_metric(parse_metric_config(config), {**METRIC_FACTORIES, "llm_judge": judge})
