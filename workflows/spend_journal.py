"""A job's spending written to its row as it happens (the gateway's `SpendJournal`), and read back on resume.

Why: the run's totals used to be written with each step's checkpoint, so the calls of a step in progress when
its worker died were never counted, and a resumed evaluation's budget started again from zero. Now every
call is added to the job row before its request is sent, with what the previous results cost (tokens, cost,
retries, failures, cache hits), in one UPDATE that commits at once; a resumed attempt starts its budget from
the row. The totals then equal what the provider received, up to the tokens of calls in flight at a kill
(unknown to anyone but the provider), and a call journaled in the instant before its request left counts
once too often rather than once too few (docs/reliability.md).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.db.models import F

from workflows.engine.state import UsageState
from workflows.gateway.budget import Usage
from workflows.models import EvaluationRun, OptimizationRun

COST_QUANTUM = Decimal("0.000001")  # the cost_usd column's six decimal places


class JobSpendJournal:
    """Adds spending to one OptimizationRun or EvaluationRun row; shared by all the job's gateways.

    What a result cost is held back and written with the next call's UPDATE (or at the end of each
    `Gateway.run()`): one write per call instead of two, and a result settles before the worker sends its next
    request, so a kill loses at most the tokens, cost and cache hits of what was answered since the last call
    went out, never a call."""

    def __init__(self, job: OptimizationRun | EvaluationRun) -> None:
        self._rows = type(job).objects.filter(pk=job.pk)
        self._held = Usage()
        # Cost is summed unrounded here and written as the change in its rounded total, so the row holds the
        # rounded sum rather than a sum of per-call roundings (which drifts by up to half a unit per call).
        self._cost = 0.0
        self._cost_written = Decimal(0)

    def calls_sent(self, count: int) -> None:
        self._write(calls=count)

    def settled(self, usage: Usage) -> None:
        self._held = self._held + usage
        self._cost += usage.cost_usd

    def flush(self) -> None:
        self._write()

    def _write(self, calls: int = 0) -> None:
        held = self._held
        increments = {
            "calls": calls,
            "cached_calls": held.cached_calls,
            "retries": held.retries,
            "failed_calls": held.failures,
            "input_tokens": held.input_tokens,
            "output_tokens": held.output_tokens,
        }
        changes: dict[str, Any] = {name: F(name) + value for name, value in increments.items() if value}
        cost = Decimal(repr(self._cost)).quantize(COST_QUANTUM, rounding=ROUND_HALF_EVEN)
        if cost != self._cost_written:
            changes["cost_usd"] = F("cost_usd") + (cost - self._cost_written)
        if not changes:
            return
        self._rows.update(**changes)
        self._held = Usage()
        self._cost_written = cost


def spent_so_far(job: OptimizationRun | EvaluationRun, *, seconds: float = 0.0) -> UsageState:
    """What the job's earlier attempts spent, from its row (the journal's totals), with `seconds` of wall time
    (the row does not keep those: a run's checkpoint does)."""
    row = (
        type(job)
        .objects.values("calls", "cached_calls", "retries", "failed_calls", "input_tokens", "output_tokens", "cost_usd")
        .get(pk=job.pk)
    )
    return UsageState(**{**row, "cost_usd": float(row["cost_usd"])}, seconds=seconds)
