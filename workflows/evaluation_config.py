"""The validated configuration of an evaluation run: metric, provider override, budget, cache policy."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from promptopt.errors import InvalidInputError, invalid_input_from
from promptopt.input_limits import MAX_NAME_CHARS, MAX_SEED, json_value_size_problem
from workflows.metrics import parse_metric_config

# Every config refuses NaN and infinity: NaN passes no comparison and so slips past every range check.
STRICT_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False)


class BudgetConfig(BaseModel):
    """Hard limits; a limit that is set must allow at least some work (0 is refused, not read as "none")."""

    model_config = STRICT_CONFIG

    # Upper bounds far above any real run, so a typo cannot store numbers that JSON clients (53-bit integers)
    # and the usage counters cannot hold: ten million calls, a trillion tokens, a million dollars, 30 days.
    max_calls: int | None = Field(default=None, ge=1, le=10_000_000)
    max_tokens: int | None = Field(default=None, ge=1, le=10**12)
    max_cost_usd: float | None = Field(default=None, gt=0, le=1_000_000)
    max_seconds: float | None = Field(default=None, gt=0, le=30 * 24 * 3600)


class EvaluationConfig(BaseModel):
    """Stored on the EvaluationRun; anything wrong is refused before the run is created."""

    model_config = STRICT_CONFIG

    metric: dict[str, Any] = Field(default_factory=lambda: {"name": "any_answer"})
    # None: the version's own provider and model
    provider: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    model: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    fresh: bool = False  # True: ask the provider again even when the cache has the answer
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)

    @field_validator("metric")
    @classmethod
    def _metric_parses(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            parse_metric_config(value)
        except InvalidInputError as error:  # pydantic adds the "metric" prefix to a ValueError's message
            raise ValueError(str(error)) from None
        return value


def evaluation_config_from_options(
    *,
    metric: dict[str, Any] | None = None,
    provider: str | None = None,
    model: str | None = None,
    max_calls: int | None = None,
    fresh: bool = False,
) -> dict[str, Any]:
    """An evaluation config from flat options (command line, web form); None means "not given", so the
    service's defaults apply (the metric for the version's output type, its own provider). A max_calls of 0
    is kept, to be refused, rather than read as "no limit"."""
    config: dict[str, Any] = {"fresh": fresh}
    for key, value in (("metric", metric), ("provider", provider), ("model", model)):
        if value is not None:
            config[key] = value
    if max_calls is not None:
        config["budget"] = {"max_calls": max_calls}
    return config


def check_config_shape(data: Any) -> None:
    """Size, depth and characters of a config before pydantic reads it (it may arrive already parsed)."""
    problem = json_value_size_problem(data)
    if problem is not None:
        raise InvalidInputError(f"config: {problem}")


def evaluation_config_parse(data: dict[str, Any]) -> EvaluationConfig:
    check_config_shape(data)
    try:
        return EvaluationConfig.model_validate(data)
    except ValidationError as error:
        raise invalid_input_from(error) from None
