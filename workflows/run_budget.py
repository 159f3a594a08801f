"""A run's budget across its phases and attempts: what the search may spend, what the final test keeps back."""

from __future__ import annotations

import time

from workflows.engine.config import RunConfig
from workflows.engine.plan import test_reserve_calls
from workflows.engine.state import UsageState
from workflows.gateway.budget import Budget, BudgetLedger, Usage


def _remaining(limit: float | None, used: float, share: float = 1.0) -> float | None:
    return None if limit is None else max(0.0, limit * share - used)


def search_budget(config: RunConfig, *, used: UsageState, test_size: int, estimated_calls: int) -> Budget:
    """The run's budget minus what earlier attempts spent, minus the share kept back for the final test.

    Calls are kept back exactly (two per test row); for tokens, cost and time the search gets the share of
    the estimated calls that are not test calls, since their per-call size is not known in advance.
    """
    limits = config.budget
    reserve = test_reserve_calls(test_size)
    share = max(0.5, 1.0 - reserve / estimated_calls) if estimated_calls > reserve else 0.5
    calls = None if limits.max_calls is None else max(0, limits.max_calls - reserve - used.calls)
    tokens = _remaining(limits.max_tokens, used.input_tokens + used.output_tokens, share)
    return Budget(
        max_calls=calls,
        max_tokens=None if tokens is None else int(tokens),
        max_cost_usd=_remaining(limits.max_cost_usd, used.cost_usd, share),
        max_seconds=_remaining(limits.max_seconds, used.seconds, share),
    )


def final_budget(config: RunConfig, *, used: UsageState) -> Budget:
    limits = config.budget
    calls = None if limits.max_calls is None else max(0, limits.max_calls - used.calls)
    tokens = _remaining(limits.max_tokens, used.input_tokens + used.output_tokens)
    return Budget(
        max_calls=calls,
        max_tokens=None if tokens is None else int(tokens),
        max_cost_usd=_remaining(limits.max_cost_usd, used.cost_usd),
        max_seconds=_remaining(limits.max_seconds, used.seconds),
    )


class UsageMeter:
    """Usage across attempts: what earlier attempts spent (the run row's journal totals) plus what this
    attempt's ledgers have spent."""

    def __init__(self, base: UsageState) -> None:
        self._base = base
        self._started = time.monotonic()
        self._ledgers: list[BudgetLedger] = []

    def track(self, ledger: BudgetLedger) -> BudgetLedger:
        self._ledgers.append(ledger)
        return ledger

    def __call__(self) -> UsageState:
        spent = sum((ledger.usage for ledger in self._ledgers), Usage())
        base = self._base
        return UsageState(
            calls=base.calls + spent.calls,
            cached_calls=base.cached_calls + spent.cached_calls,
            input_tokens=base.input_tokens + spent.input_tokens,
            output_tokens=base.output_tokens + spent.output_tokens,
            cost_usd=base.cost_usd + spent.cost_usd,
            seconds=base.seconds + (time.monotonic() - self._started),
            retries=base.retries + spent.retries,
            failed_calls=base.failed_calls + spent.failures,
        )
