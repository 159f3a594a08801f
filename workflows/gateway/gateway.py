"""The gateway, the only path from the engine to a provider: cache, batching, concurrency, retries, budgets, usage.

Plain Python: the Django side hands in a provider and a `ResponseCache` backed by `LLMCallCache` rows and
persists the `CallResult`s it gets back. One gateway serves one run or evaluation; its budgets and usage
totals span every `run()` call made on it.

Threads: with `max_concurrency > 1`, provider calls run on a thread pool, but budget reservations, the
cache, the spend journal and the caller's `on_result` callback are only ever called from the thread that
called `run()`, so database-backed ones stay on the caller's connection and transaction.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from typing import Any

from workflows.gateway.budget import Budget, BudgetLedger, ModelPrice, Usage
from workflows.gateway.cache import ResponseCache, cache_key
from workflows.gateway.journal import SpendJournal
from workflows.gateway.providers.base import Provider, ProviderConfigError, ProviderRequestError, request_route
from workflows.gateway.retry import Attempted, RetryPolicy, WaitAllowance, call_with_retries
from workflows.gateway.types import Generation, GenerationRequest

logger = logging.getLogger("promptopt.gateway")

# Provider messages are shown to people and stored; in log lines a bounded excerpt is enough.
LOGGED_ERROR_CHARS = 300


@dataclass(frozen=True)
class CallResult:
    """The outcome of one request: a generation, an error, or not run because a budget stopped the work.

    `usage` is this request's share of the gateway's totals (one call or one cached call, its tokens,
    cost and retries), so the totals are exactly the sum over results.
    """

    index: int  # position of the request in the sequence given to run()
    generation: Generation | None  # None when the call failed or was not run
    usage: Usage
    error: str = ""  # the provider's message, or the budget's reason when not run
    not_run: bool = False  # a budget stopped the work before this request was sent

    @property
    def ok(self) -> bool:
        return self.generation is not None

    @property
    def cached(self) -> bool:
        return self.usage.cached_calls > 0

    @property
    def retries(self) -> int:
        return self.usage.retries

    @property
    def cost_usd(self) -> float:
        return self.usage.cost_usd


@dataclass(frozen=True)
class _Pending:
    index: int
    request: GenerationRequest
    key: str


ResultCallback = Callable[[CallResult], None]


def _settle(journal: SpendJournal, *, usage: Usage) -> None:
    journal.settled(usage)


def _whole_number_attribute(provider: Provider, name: str) -> int:
    # Optional on the Provider protocol: a provider that says nothing is called one request at a time.
    value = getattr(provider, name, 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ProviderConfigError(f"the {provider.name} provider's {name} must be a whole number of 1 or more")
    return value


class Gateway:
    """Runs generation requests through one provider within a budget; see the module docstring for threads."""

    def __init__(
        self,
        *,
        provider: Provider,
        cache: ResponseCache | None = None,
        budget: Budget | None = None,
        prices: Mapping[str, ModelPrice] | None = None,
        retry: RetryPolicy | None = None,
        fresh: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        ledger: BudgetLedger | None = None,
        journal: SpendJournal | None = None,
    ) -> None:
        """`fresh=True` never reads the cache (a run asked for new samples) but still fills it.

        `ledger` shares one budget between gateways (a run's task and optimizer models spend from one
        budget); without it the gateway keeps its own ledger for `budget`. `journal` records the spending
        durably as it happens (journal.py).
        """
        budget = budget or Budget()
        self._provider = provider
        self._provider_name = provider.name
        self._model = provider.model_name
        self._max_concurrency = _whole_number_attribute(provider, "max_concurrency")
        self._batch_size = _whole_number_attribute(provider, "batch_size")
        self._cache = cache
        self._fresh = fresh
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._ledger = ledger if ledger is not None else BudgetLedger(budget, clock=clock)
        self._journal = journal
        self._wait_allowance = WaitAllowance(self._retry.max_total_wait_seconds)
        self._price = (prices or {}).get(self._model)
        if self._price is None and self._ledger.budget.max_cost_usd is not None:
            # Counted at cost 0 as agreed, but a cost limit that cannot bind deserves a visible line.
            logger.warning(
                "no price is known for model %s: its calls count as costing $0 against max_cost_usd",
                self._model,
                extra={"provider": self._provider_name, "model": self._model},
            )

    @property
    def usage(self) -> Usage:
        """A snapshot of everything this gateway has spent so far; safe to read from any thread at any time."""
        return self._ledger.usage

    @property
    def exhausted_reason(self) -> str | None:
        """Why uncached calls are being refused ("budget exhausted: max_calls 100 reached"), or None."""
        return self._ledger.exhausted_reason

    def run(
        self, requests: Sequence[GenerationRequest], *, on_result: ResultCallback | None = None
    ) -> list[CallResult]:
        """One CallResult per request, in request order; never raises for a provider failure or a budget.

        `on_result` is called once per request, in the calling thread, as soon as its result exists (cache
        hits first, then calls as they complete), so the caller can checkpoint as it goes. If `on_result` or
        the cache raises, no new calls start, the calls in flight finish, and the exception propagates.
        """
        results: list[CallResult | None] = [None] * len(requests)

        def deliver(result: CallResult) -> None:
            results[result.index] = result
            if self._journal is not None:
                self._journal.settled(result.usage)
            if on_result is not None:
                on_result(result)

        to_call: list[_Pending] = []
        # Identical requests within one run are sent once; the others share the answer as cached calls. Not
        # under fresh=True: there every request gets its own sample, as a read from the cache would not.
        duplicates: dict[str, list[int]] = {}
        for index, request in enumerate(requests):
            route = request_route(self._provider, request)
            key = cache_key(provider=self._provider_name, model=self._model, request=request, route=route)
            if not self._fresh:
                if key in duplicates:
                    duplicates[key].append(index)
                    continue
                hit = self._cached_result(index, key)
                if hit is not None:
                    deliver(hit)
                    continue
                duplicates[key] = []
            to_call.append(_Pending(index=index, request=request, key=key))

        def finish(unit_results: list[tuple[_Pending, CallResult]]) -> None:
            for item, result in unit_results:
                if result.generation is not None:
                    self._cache_put(item.key, result.generation)
                deliver(result)
                for index in duplicates.get(item.key, ()):
                    deliver(self._duplicate_result(index, result))

        units = [to_call[start : start + self._batch_size] for start in range(0, len(to_call), self._batch_size)]
        try:
            if self._max_concurrency == 1 or len(units) <= 1:
                for unit in units:
                    granted, refused = self._reserve(unit)
                    finish((self._call(granted) if granted else []) + refused)
            else:
                self._run_concurrently(units, finish)
        except BaseException:
            # The error that stopped the work is the one to raise, not a second one from the journal (in a
            # database outage the flush fails too).
            self._journal_quietly(lambda journal: journal.flush())
            raise
        if self._journal is not None:
            self._journal.flush()

        complete = [result for result in results if result is not None]
        if len(complete) != len(requests):  # a defect in this module, never a provider's fault
            raise RuntimeError(f"the gateway lost {len(requests) - len(complete)} results")
        not_run = sum(result.not_run for result in complete)
        if not_run:
            logger.warning(
                "%d of %d requests not run: %s",
                not_run,
                len(requests),
                self.exhausted_reason,
                extra={"provider": self._provider_name, "model": self._model, "outcome": "not_run"},
            )
        return complete

    def _run_concurrently(
        self, units: list[list[_Pending]], finish: Callable[[list[tuple[_Pending, CallResult]]], None]
    ) -> None:
        """At most `max_concurrency` units in flight; each is reserved (and journaled) just before it is sent.

        Units are not all queued up front: a queued unit would hold budget it may never spend, and its
        calls would be journaled long before they leave the worker."""
        workers = min(self._max_concurrency, len(units))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gateway")
        waiting = iter(units)
        in_flight: dict[Future[list[tuple[_Pending, CallResult]]], list[tuple[_Pending, CallResult]]] = {}

        def send_next() -> None:
            for unit in waiting:
                granted, refused = self._reserve(unit)
                if not granted:
                    finish(refused)
                    continue
                # Each unit runs in a copy of the caller's context, so log lines keep the caller's run id.
                in_flight[pool.submit(contextvars.copy_context().run, self._call, granted)] = refused
                return

        try:
            for _ in range(workers):
                send_next()
            while in_flight:
                done, _pending = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    refused = in_flight.pop(future)
                    send_next()  # first, so the freed slot is not idle while the results are written
                    finish(future.result() + refused)
        finally:
            # After an exception no new unit is submitted (it would spend budget on results nobody receives).
            # Those submitted were journaled as sent, so they are sent, not cancelled (never more than
            # `workers` of them); their usage is recorded in the ledger and offered to the journal.
            pool.shutdown(wait=True)
            for future in in_flight:
                if future.exception() is None:
                    for _item, result in future.result():
                        self._journal_quietly(partial(_settle, usage=result.usage))

    def _journal_quietly(self, write: Callable[[SpendJournal], None]) -> None:
        """A journal write on the way out of an error: logged when it fails, never raised over that error."""
        if self._journal is None:
            return
        try:
            write(self._journal)
        except Exception:
            logger.warning("the spend journal could not be written while stopping on an error", exc_info=True)

    def _reserve(self, unit: list[_Pending]) -> tuple[list[_Pending], list[tuple[_Pending, CallResult]]]:
        """The requests of a unit the budget allows (journaled as sent), and results for those it refused."""
        granted, refusal = self._ledger.reserve_calls(len(unit))
        refused = [(item, self._not_run_result(item.index, refusal or "")) for item in unit[granted:]]
        if granted and self._journal is not None:
            self._journal.calls_sent(granted)
        return unit[:granted], refused

    def _call(self, items: list[_Pending]) -> list[tuple[_Pending, CallResult]]:
        started = self._clock()
        attempted = self._attempt([item.request for item in items])
        if attempted.value is not None:
            return [
                (item, self._success(item, generation, retries=attempted.retries, started=started))
                for item, generation in zip(items, attempted.value, strict=True)
            ]
        if len(items) > 1 and attempted.error is not None and not attempted.error.retryable:
            # A batch is answered whole or not at all, so one bad request (say, one prompt too long for the
            # context) would fail its neighbours. Sending each alone confines the failure to the one it is.
            results = []
            for item in items:
                single_started = self._clock()
                single = self._attempt([item.request])
                retries = attempted.retries + 1 + single.retries
                if single.value is not None:
                    results.append(
                        (item, self._success(item, single.value[0], retries=retries, started=single_started))
                    )
                else:
                    results.append((item, self._failure(item, single.message, retries=retries, started=single_started)))
            return results
        return [
            (item, self._failure(item, attempted.message, retries=attempted.retries, started=started)) for item in items
        ]

    def _attempt(self, requests: list[GenerationRequest]) -> Attempted[list[Generation]]:
        def generate() -> list[Generation]:
            generations = self._provider.generate(requests)
            if len(generations) != len(requests):
                raise ProviderRequestError(
                    f"the {self._provider_name} provider returned {len(generations)} answers "
                    f"for {len(requests)} requests"
                )
            return list(generations)

        try:
            return call_with_retries(
                generate,
                policy=self._retry,
                allowance=self._wait_allowance,
                sleep=self._sleep,
                wait_refusal=self._ledger.wait_refusal,
            )
        except Exception as error:
            # Providers raise ProviderErrors only; anything else is a defect in one. It fails these requests,
            # with its traceback in the log, instead of raising away the results other calls completed. Only
            # the type goes into the result: a defect's message is not known to be safe to show or store.
            logger.exception(
                "the %s provider failed unexpectedly",
                self._provider_name,
                extra={"provider": self._provider_name, "model": self._model, "outcome": "error"},
            )
            return Attempted(message=f"the {self._provider_name} provider failed unexpectedly: {type(error).__name__}")

    def _success(self, item: _Pending, generation: Generation, *, retries: int, started: float) -> CallResult:
        cost = (
            self._price.cost_usd(input_tokens=generation.input_tokens, output_tokens=generation.output_tokens)
            if self._price is not None
            else 0.0
        )
        usage = Usage(
            calls=1,
            input_tokens=generation.input_tokens,
            output_tokens=generation.output_tokens,
            cost_usd=cost,
            retries=retries,
        )
        self._ledger.record(usage)
        latency_ms = generation.latency_ms or self._elapsed_ms(started)
        self._log_call(logging.INFO, item.key, outcome="ok", latency_ms=latency_ms, usage=usage)
        return CallResult(index=item.index, generation=generation, usage=usage)

    def _failure(self, item: _Pending, message: str, *, retries: int, started: float) -> CallResult:
        usage = Usage(calls=1, failures=1, retries=retries)
        self._ledger.record(usage)
        self._log_call(
            logging.WARNING, item.key, outcome="error", latency_ms=self._elapsed_ms(started), usage=usage, error=message
        )
        return CallResult(index=item.index, generation=None, usage=usage, error=message)

    def _not_run_result(self, index: int, reason: str) -> CallResult:
        usage = Usage(not_run=1)
        self._ledger.record(usage)
        return CallResult(index=index, generation=None, usage=usage, error=reason, not_run=True)

    def _cached_result(self, index: int, key: str) -> CallResult | None:
        if self._cache is None:
            return None
        started = self._clock()
        try:
            generation = self._cache.get(key)
        except Exception:
            # The cache only saves calls: when it cannot be read, calling the provider is still correct.
            logger.warning("reading the response cache failed; calling the provider instead", exc_info=True)
            return None
        if generation is None:
            return None
        usage = Usage(cached_calls=1)
        self._ledger.record(usage)
        self._log_call(logging.DEBUG, key, outcome="cached", latency_ms=self._elapsed_ms(started), usage=usage)
        return CallResult(index=index, generation=generation, usage=usage)

    def _duplicate_result(self, index: int, first: CallResult) -> CallResult:
        """The result of a request identical to an earlier one in the same run, which was sent in its place."""
        if first.generation is not None:
            usage = Usage(cached_calls=1)
        elif first.not_run:
            usage = Usage(not_run=1)
        else:
            usage = Usage(failures=1)
        self._ledger.record(usage)
        return CallResult(
            index=index, generation=first.generation, usage=usage, error=first.error, not_run=first.not_run
        )

    def _cache_put(self, key: str, generation: Generation) -> None:
        if self._cache is None:
            return
        try:
            self._cache.put(key, provider=self._provider_name, model=self._model, generation=generation)
        except Exception:
            # The answer is already paid for and is returned either way; only a later repeat loses out.
            logger.warning("writing the response cache failed; the result is kept", exc_info=True)

    def _elapsed_ms(self, started: float) -> int:
        return max(0, round((self._clock() - started) * 1000))

    def _log_call(self, level: int, key: str, *, outcome: str, latency_ms: int, usage: Usage, error: str = "") -> None:
        # Structured fields for JSON logs, and a readable message; never the prompt text or credentials.
        fields: dict[str, Any] = {
            "provider": self._provider_name,
            "model": self._model,
            "outcome": outcome,
            "cached": usage.cached_calls > 0,
            "latency_ms": latency_ms,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cost_usd": usage.cost_usd,
            "retries": usage.retries,
            "cache_key": key,
        }
        if error:
            fields["error"] = error[:LOGGED_ERROR_CHARS]
        logger.log(
            level,
            "%s/%s call %s in %d ms: %d+%d tokens, %d retries%s",
            self._provider_name,
            self._model,
            outcome,
            latency_ms,
            usage.input_tokens,
            usage.output_tokens,
            usage.retries,
            f": {fields['error']}" if error else "",
            extra=fields,
        )
