"""A run's configuration, validated with pydantic before the run is created and stored on it as JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from promptopt.errors import InvalidInputError, invalid_input_from
from promptopt.input_limits import MAX_NAME_CHARS, MAX_SEED
from workflows.evaluation_config import STRICT_CONFIG, BudgetConfig, check_config_shape
from workflows.metrics import parse_metric_config

# Iterations when neither the config nor a call budget limits them.
DEFAULT_ITERATIONS = 4
MAX_ITERATIONS = 100


class RunConfig(BaseModel):
    """Every knob of the search; defaults suit the embedded model on a dataset of a few hundred rows."""

    model_config = STRICT_CONFIG

    metric: dict[str, Any] = Field(default_factory=lambda: {"name": "normalized_match"})
    strategies: list[Annotated[str, Field(max_length=MAX_NAME_CHARS)]] = Field(
        default_factory=lambda: ["auto"], min_length=1, max_length=10
    )
    iterations: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ITERATIONS,
        description=f"Most iterations of the five steps. Blank: as many as a call budget pays for, "
        f"else {DEFAULT_ITERATIONS}.",
    )
    patience: int = Field(
        default=2, ge=1, le=100, description="Stop after this many iterations without a new incumbent."
    )
    target_score: float | None = Field(default=None, ge=0.0, le=1.0, description="Stop once validation reaches it.")
    minibatch_size: int = Field(default=8, ge=2, le=500)
    candidates_per_iteration: int = Field(default=6, ge=1, le=50)
    survivors: int = Field(default=2, ge=1, le=20, description="Candidates scored on validation per iteration.")
    selection: Literal["halving", "ucb"] = "halving"
    beam_size: int = Field(default=3, ge=1, le=20, description="Validated prompts kept as parents for proposals.")
    parents: Literal["pareto", "incumbent"] = Field(
        default="pareto",
        description="What each iteration proposes from: a prompt of the beam's Pareto front over validation rows "
        "(drawn by the rows it is best on, as GEPA does), or always the incumbent.",
    )
    # A candidate replaces the incumbent when the paired bootstrap interval of its gain lies above zero, or —
    # when set — when its mean gain on validation reaches this many points (0.05 = five points).
    min_gain: float | None = Field(default=None, gt=0.0, le=1.0)
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    prefer: Literal["best", "shorter"] = Field(
        default="best",
        description="The winner: the best prompt on validation, or the one with the fewest prompt tokens among "
        "those not significantly below the best that also beat the baseline beyond noise.",
    )
    validation_limit: int | None = Field(default=None, ge=2, description="Score at most this many validation rows.")
    max_demos: int = Field(default=16, ge=0, le=16, description="Most demonstrations in one candidate.")
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    # None: the baseline version's provider and model
    task_provider: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    task_model: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    # None: no optimizer model (mutations and demos still work)
    optimizer_provider: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    optimizer_model: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    fresh: bool = False

    @property
    def iteration_limit(self) -> int:
        """The most iterations: the configured number, else as many as a call budget buys (its plan decides),
        else DEFAULT_ITERATIONS."""
        if self.iterations is not None:
            return self.iterations
        return MAX_ITERATIONS if self.budget.max_calls is not None else DEFAULT_ITERATIONS

    @field_validator("metric")
    @classmethod
    def _metric_parses(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            parse_metric_config(value)
        except InvalidInputError as error:
            raise ValueError(str(error)) from None
        return value

    @model_validator(mode="after")
    def _models_come_with_providers(self) -> RunConfig:
        if self.optimizer_model and not self.optimizer_provider:
            raise ValueError("optimizer_model needs optimizer_provider")
        if self.survivors > self.candidates_per_iteration:
            raise ValueError("survivors cannot exceed candidates_per_iteration")
        return self


# Flat option names (command-line options, web form fields) → where each goes in a RunConfig.
RUN_OPTION_FIELDS: dict[str, tuple[str, ...]] = {
    "metric": ("metric",),
    "strategies": ("strategies",),
    "iterations": ("iterations",),
    "patience": ("patience",),
    "target_score": ("target_score",),
    "candidates": ("candidates_per_iteration",),
    "minibatch": ("minibatch_size",),
    "min_gain": ("min_gain",),
    "prefer": ("prefer",),
    "seed": ("seed",),
    "task_provider": ("task_provider",),
    "task_model": ("task_model",),
    "optimizer_provider": ("optimizer_provider",),
    "optimizer_model": ("optimizer_model",),
    "max_calls": ("budget", "max_calls"),
    "max_tokens": ("budget", "max_tokens"),
    "max_cost": ("budget", "max_cost_usd"),
    "max_seconds": ("budget", "max_seconds"),
}


def run_config_from_options(options: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A run config from flat options laid over a base config; None (and an empty list) means "not given".

    The optimize command and the web UI's form both build configs here, so a flat option means the same
    thing on every surface; the API takes the nested config itself.
    """
    unknown = sorted(set(options) - set(RUN_OPTION_FIELDS))
    if unknown:
        raise InvalidInputError(f"unknown run option {unknown[0]!r}; known: {', '.join(RUN_OPTION_FIELDS)}")
    config: dict[str, Any] = {
        key: dict(value) if isinstance(value, Mapping) else value for key, value in (base or {}).items()
    }
    for option, value in options.items():
        if value is None or value == []:
            continue
        *parents, leaf = RUN_OPTION_FIELDS[option]
        target = config
        for parent in parents:
            existing = target.get(parent)
            target[parent] = dict(existing) if isinstance(existing, Mapping) else {}
            target = target[parent]
        target[leaf] = value
    return config


def run_config_parse(data: dict[str, Any]) -> RunConfig:
    """The validated config, or InvalidInputError naming each bad field."""
    check_config_shape(data)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as error:
        raise invalid_input_from(error) from None
