"""The validated configuration of an evaluation run: metric, provider override, budget, cache policy."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from promptopt.errors import InvalidInputError, invalid_input_from
from workflows.metrics import parse_metric_config


class BudgetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_calls: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_cost_usd: float | None = Field(default=None, gt=0)
    max_seconds: float | None = Field(default=None, gt=0)


class EvaluationConfig(BaseModel):
    """Stored on the EvaluationRun; anything wrong is refused before the run is created."""

    model_config = ConfigDict(extra="forbid")

    metric: dict[str, Any] = Field(default_factory=lambda: {"name": "any_answer"})
    provider: str | None = None  # None: the version's own provider and model
    model: str | None = None
    fresh: bool = False  # True: ask the provider again even when the cache has the answer
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    seed: int = 0

    @field_validator("metric")
    @classmethod
    def _metric_parses(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            parse_metric_config(value)
        except InvalidInputError as error:  # pydantic adds the "metric" prefix to a ValueError's message
            raise ValueError(str(error)) from None
        return value


def evaluation_config_parse(data: dict[str, Any]) -> EvaluationConfig:
    try:
        return EvaluationConfig.model_validate(data)
    except ValidationError as error:
        raise invalid_input_from(error) from None
