"""The pre-run estimate: the most calls, tokens and cost a run's config allows, shown before it starts."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from workflows.engine.config import RunConfig
from workflows.gateway.budget import ModelPrice

# Strategies that ask the optimizer model make at most one call per proposal.
OPTIMIZER_STRATEGIES = frozenset({"critique", "history", "auto"})


@dataclass(frozen=True)
class RunEstimate:
    task_calls: int  # search (train + validation) plus the final test of baseline and winner
    test_calls: int
    optimizer_calls: int
    tokens: int
    cost_usd: float | None  # None when no price is known for the task model
    capped_by_budget: bool  # the budget's max_calls is lower than what the config could use

    @property
    def calls(self) -> int:
        return self.task_calls + self.optimizer_calls

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"calls": self.calls}


def run_estimate(
    config: RunConfig,
    *,
    train_size: int,
    validation_size: int,
    test_size: int,
    prompt_tokens: int,
    price: ModelPrice | None,
) -> RunEstimate:
    """Upper bounds, assuming no cache hits; `prompt_tokens` is the longest rendered prompt's estimate."""
    minibatch = min(config.minibatch_size, train_size)
    validation = min(validation_size, config.validation_limit or validation_size)
    candidates = config.candidates_per_iteration
    refined = _refined_calls(config, candidates=candidates, minibatch=minibatch, train_size=train_size)
    per_iteration = minibatch + refined + config.survivors * validation
    search_calls = validation + config.iterations * per_iteration
    test_calls = 2 * test_size
    optimizer_calls = 0
    if config.optimizer_provider and OPTIMIZER_STRATEGIES & set(config.strategies):
        optimizer_calls = config.iterations * candidates
    task_calls = search_calls + test_calls
    capped = False
    if config.budget.max_calls is not None and task_calls + optimizer_calls > config.budget.max_calls:
        capped = True
    calls = min(task_calls + optimizer_calls, config.budget.max_calls or math.inf)
    # Demonstrations the search may add make prompts longer than the baseline's: counted at the maximum.
    tokens_per_call = prompt_tokens * (1 + config.max_demos) + 256
    tokens = int(calls * tokens_per_call)
    if config.budget.max_tokens is not None:
        tokens = min(tokens, config.budget.max_tokens)
    cost = None
    if price is not None:
        cost = price.cost_usd(input_tokens=tokens, output_tokens=0)
        if config.budget.max_cost_usd is not None:
            cost = min(cost, config.budget.max_cost_usd)
    return RunEstimate(
        task_calls=task_calls,
        test_calls=test_calls,
        optimizer_calls=optimizer_calls,
        tokens=tokens,
        cost_usd=cost,
        capped_by_budget=capped,
    )


def _refined_calls(config: RunConfig, *, candidates: int, minibatch: int, train_size: int) -> int:
    if config.selection == "ucb":
        # The minibatch for everyone, then one extra half-minibatch pull per candidate (plus the incumbent's).
        return candidates * minibatch + candidates * max(1, minibatch // 2) * 2
    calls, active, spare = 0, candidates, max(0, train_size - minibatch)
    while True:
        calls += active * minibatch
        if active <= config.survivors or spare < 1:
            return calls
        active = max(config.survivors, math.ceil(active / 2))
        batch = min(minibatch, spare)
        spare -= batch
        calls += batch  # the incumbent on the new rows
        minibatch = batch
