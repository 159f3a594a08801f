"""Hard budgets for one gateway, and the thread-safe ledger of what it has spent against them.

Budgets are enforced here and nowhere else: the gateway asks the ledger before every uncached call, and
the ledger is the only place that knows how much has been spent.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

from promptopt.errors import InvalidInputError

logger = logging.getLogger("promptopt.gateway")


def _require_non_negative(name: str, value: float | None) -> None:
    # Budgets and prices arrive from settings and run configs as well as from typed code; a negative or NaN
    # limit would silently refuse or allow everything, so it is refused by name instead.
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise InvalidInputError(f"{name} must be a finite number of 0 or more, not {value!r}")


@dataclass(frozen=True)
class ModelPrice:
    """What a model costs, in US dollars per million tokens, as its provider bills them."""

    input_per_million: float
    output_per_million: float

    def __post_init__(self) -> None:
        _require_non_negative("input_per_million", self.input_per_million)
        _require_non_negative("output_per_million", self.output_per_million)

    def cost_usd(self, *, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_million + output_tokens * self.output_per_million) / 1_000_000


@dataclass(frozen=True)
class Budget:
    """Limits on one gateway's spending; None means no limit.

    `max_calls` counts uncached requests sent to the provider (a retry is part of the same call),
    `max_tokens` input plus output tokens of those calls, `max_cost_usd` their estimated cost from the
    price table, and `max_seconds` the wall time since the gateway was created.
    """

    max_calls: int | None = None
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        _require_non_negative("max_calls", self.max_calls)
        _require_non_negative("max_tokens", self.max_tokens)
        _require_non_negative("max_cost_usd", self.max_cost_usd)
        _require_non_negative("max_seconds", self.max_seconds)


@dataclass(frozen=True)
class Usage:
    """What calls cost: a gateway's running totals, or one result's share of them.

    Totals are the sum of the usage of every result the gateway returned, so a caller can attribute
    spending to a run or an evaluation by adding up the results it received. Tokens and cost count
    provider calls only: a cached answer spent them once, on the call that filled the cache.
    """

    calls: int = 0
    cached_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    retries: int = 0
    failures: int = 0
    not_run: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            calls=self.calls + other.calls,
            cached_calls=self.cached_calls + other.cached_calls,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
            retries=self.retries + other.retries,
            failures=self.failures + other.failures,
            not_run=self.not_run + other.not_run,
        )


class BudgetLedger:
    """A gateway's spending checked against its budget; every method is safe to call from any thread."""

    def __init__(self, budget: Budget, *, clock: Callable[[], float]) -> None:
        self._budget = budget
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()
        self._usage = Usage()
        # Calls are counted when they start, not when they finish: with concurrent calls in flight, counting
        # on completion would let every thread pass the check at once and overshoot max_calls.
        self._calls_started = 0
        self._exhausted_reason: str | None = None

    @property
    def budget(self) -> Budget:
        return self._budget

    @property
    def usage(self) -> Usage:
        with self._lock:
            return self._usage

    @property
    def exhausted_reason(self) -> str | None:
        with self._lock:
            return self._exhausted_reason

    @property
    def remaining_calls(self) -> int | None:
        """Uncached calls this ledger may still start; None without a call limit."""
        if self._budget.max_calls is None:
            return None
        with self._lock:
            return max(0, self._budget.max_calls - self._calls_started)

    def reserve_calls(self, wanted: int) -> tuple[int, str | None]:
        """Grants up to `wanted` uncached calls; when fewer are granted, the reason the rest are refused.

        Once a limit refuses a call the gateway stays exhausted: spending only grows, so a limit reached
        stays reached, and a run that stopped must not quietly start again.
        """
        with self._lock:
            already_exhausted = self._exhausted_reason is not None
            if not already_exhausted:
                self._exhausted_reason = self._limit_reached()
            granted = 0
            if self._exhausted_reason is None:
                granted = wanted
                max_calls = self._budget.max_calls
                if max_calls is not None and self._calls_started + wanted > max_calls:
                    granted = max_calls - self._calls_started
                    self._exhausted_reason = f"budget exhausted: max_calls {max_calls} reached"
                self._calls_started += granted
            reason = self._exhausted_reason
        if reason is not None and not already_exhausted:
            # Logged once, when the first call is refused, and outside the lock: handlers may be slow.
            logger.warning(
                "%s; no further uncached calls will be made",
                reason,
                extra={"outcome": "budget_exhausted", "reason": reason},
            )
        return granted, reason if granted < wanted else None

    def record(self, usage: Usage) -> None:
        with self._lock:
            self._usage = self._usage + usage

    def wait_refusal(self, seconds: float) -> str | None:
        """Why waiting `seconds` before a retry is not allowed, or None when it is."""
        limit = self._budget.max_seconds
        if limit is not None and self._clock() - self._started + seconds > limit:
            return f"waiting {seconds:g} s would pass the wall-time budget (max_seconds {limit:g})"
        return None

    def _limit_reached(self) -> str | None:
        budget, usage = self._budget, self._usage
        if budget.max_seconds is not None and self._clock() - self._started >= budget.max_seconds:
            return f"budget exhausted: max_seconds {budget.max_seconds:g} reached"
        if budget.max_calls is not None and self._calls_started >= budget.max_calls:
            return f"budget exhausted: max_calls {budget.max_calls} reached"
        if budget.max_tokens is not None and usage.total_tokens >= budget.max_tokens:
            return f"budget exhausted: max_tokens {budget.max_tokens} reached ({usage.total_tokens} used)"
        if budget.max_cost_usd is not None and usage.cost_usd >= budget.max_cost_usd:
            return f"budget exhausted: max_cost_usd {budget.max_cost_usd:g} reached (${usage.cost_usd:.4f} spent)"
        return None
