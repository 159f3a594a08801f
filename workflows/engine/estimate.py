"""The pre-run estimate: the plan of the search, and the most calls, tokens and cost the run may spend."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from workflows.engine.config import RunConfig
from workflows.engine.plan import SearchPlan, search_plan
from workflows.gateway.budget import ModelPrice

# Strategies that ask the optimizer model make at most one call per proposal.
OPTIMIZER_STRATEGIES = frozenset({"critique", "history", "auto"})


@dataclass(frozen=True)
class RunEstimate:
    task_calls: int  # the most: search (train + validation, every close decision looked at again) plus final test
    test_calls: int
    optimizer_calls: int
    tokens: int
    cost_usd: float | None  # None when no price is known for the task model
    capped_by_budget: bool  # the budget's max_calls is lower than what the config could use
    planned_task_calls: int = 0  # what the plan expects: every decision taken on its first validation look
    plan: dict[str, Any] = field(default_factory=dict)

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
    """The plan (InvalidInputError when the budget cannot pay for one iteration) and upper bounds on what the
    run spends, assuming no cache hits; `prompt_tokens` is the longest rendered prompt's estimate."""
    plan = search_plan(config, train_size=train_size, validation_size=validation_size, test_size=test_size)
    search_calls = _most_search_calls(plan)
    test_calls = plan.test_reserve_calls
    optimizer_calls = 0
    if config.optimizer_provider and OPTIMIZER_STRATEGIES & set(config.strategies):
        optimizer_calls = plan.iterations * plan.candidates_per_iteration
    task_calls = search_calls + test_calls
    capped = False
    if config.budget.max_calls is not None and task_calls + optimizer_calls > config.budget.max_calls:
        capped = True
        task_calls = max(0, config.budget.max_calls - optimizer_calls)
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
        planned_task_calls=plan.search_calls + test_calls,
        plan=plan.as_dict(),
    )


def _most_search_calls(plan: SearchPlan) -> int:
    """Every survivor looked at on the largest sample, and the incumbent extended to it once per iteration."""
    first, last = plan.validation_rows, plan.look_sizes()[-1]
    per_iteration = plan.calls_per_iteration + plan.survivors * (last - first) + (last - first)
    return plan.fixed_calls + plan.iterations * per_iteration
