"""Unit tests for the gateway: cache, batching and concurrency, retries, budgets, usage, logs (scripted provider)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import pytest

from promptopt.errors import InvalidInputError
from promptopt.logs import log_context, run_id_var
from prompts.content import PromptContent
from prompts.rendering import render
from workflows.gateway.budget import Budget, ModelPrice, Usage
from workflows.gateway.cache import InMemoryResponseCache, cache_key
from workflows.gateway.gateway import CallResult, Gateway
from workflows.gateway.providers.base import ProviderConfigError, ProviderRequestError, ProviderUnavailableError
from workflows.gateway.retry import RetryPolicy
from workflows.gateway.types import Generation, GenerationRequest

SPEC = PromptContent(template="Review: {{text}}\nSentiment:", layout="completion")
NO_JITTER = RetryPolicy(jitter_seconds=0)


def request(text: str, **parameters) -> GenerationRequest:
    return GenerationRequest(prompt=render(SPEC, {"text": text}), **parameters)


def review_of(generation_request: GenerationRequest) -> str:
    return generation_request.prompt.completion_text.removeprefix("Review: ").removesuffix("\nSentiment:")


class FakeClock:
    """A monotonic clock that only moves when told to; its sleep records the wait and moves it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class ScriptedProvider:
    """Answers "out:<review>" with fixed token counts; fails as scripted; counts calls and concurrency.

    `failures` are raised one per generate() call, in order, before anything is answered. A batch holding a
    review listed in `refused_reviews` is refused whole with ProviderRequestError, as a real provider refuses
    a batch with one prompt too long. Concurrency attributes are set only when given, so the default
    provider looks like one that declares nothing.
    """

    name = "scripted"

    def __init__(
        self,
        *,
        model: str = "scripted-1",
        failures: Sequence[Exception] = (),
        refused_reviews: Sequence[str] = (),
        delay_for: Callable[[str], float] | None = None,
        clock: FakeClock | None = None,
        seconds_per_call: float = 0.0,
        input_tokens: int = 10,
        output_tokens: int = 2,
        **attributes: int,
    ) -> None:
        self._model = model
        self.failures = list(failures)
        self.refused_reviews = set(refused_reviews)
        self.delay_for = delay_for
        self.clock = clock
        self.seconds_per_call = seconds_per_call
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.generate_calls = 0
        self.answered: list[str] = []
        self.batch_sizes: list[int] = []
        self.run_ids: list[str] = []
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()
        for name, value in attributes.items():
            setattr(self, name, value)

    @property
    def model_name(self) -> str:
        return self._model

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        reviews = [review_of(r) for r in requests]
        with self._lock:
            self.generate_calls += 1
            self.batch_sizes.append(len(requests))
            self.run_ids.append(run_id_var.get())
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            failure = self.failures.pop(0) if self.failures else None
        try:
            if self.delay_for is not None:
                time.sleep(max(self.delay_for(review) for review in reviews))
            if self.clock is not None:
                self.clock.now += self.seconds_per_call
            if failure is not None:
                raise failure
            if self.refused_reviews.intersection(reviews):
                raise ProviderRequestError("the prompt is longer than the model's context")
            with self._lock:
                self.answered.extend(reviews)
            return [
                Generation(
                    text=f"out:{review}", input_tokens=self.input_tokens, output_tokens=self.output_tokens, latency_ms=5
                )
                for review in reviews
            ]
        finally:
            with self._lock:
                self.active -= 1


def make_gateway(provider, *, clock: FakeClock | None = None, **options) -> Gateway:
    clock = clock or FakeClock()
    options.setdefault("cache", InMemoryResponseCache())
    options.setdefault("retry", NO_JITTER)
    return Gateway(provider=provider, sleep=clock.sleep, clock=clock, **options)


def texts(results: list[CallResult]) -> list[str | None]:
    return [result.generation.text if result.generation else None for result in results]


# --- Cache


def test_it_serves_a_repeated_request_from_the_cache_without_calling_the_provider():
    provider = ScriptedProvider()
    gateway = make_gateway(provider)

    [first] = gateway.run([request("great film")])
    [second] = gateway.run([request("great film")])

    assert provider.generate_calls == 1
    assert (first.cached, second.cached) == (False, True)
    assert second.generation == first.generation
    assert second.usage == Usage(cached_calls=1)
    assert gateway.usage == Usage(calls=1, cached_calls=1, input_tokens=10, output_tokens=2)


def test_it_shares_the_cache_between_gateways_through_the_cache_object():
    cache = InMemoryResponseCache()
    make_gateway(ScriptedProvider(), cache=cache).run([request("a"), request("b")])
    provider = ScriptedProvider()

    results = make_gateway(provider, cache=cache).run([request("a"), request("b")])

    assert provider.generate_calls == 0
    assert [r.cached for r in results] == [True, True]
    assert texts(results) == ["out:a", "out:b"]


def test_it_calls_the_provider_again_when_fresh_samples_are_required_and_still_fills_the_cache():
    cache = InMemoryResponseCache()
    make_gateway(ScriptedProvider(output_tokens=1), cache=cache).run([request("a")])
    fresh_provider = ScriptedProvider(output_tokens=7)

    [fresh] = make_gateway(fresh_provider, cache=cache, fresh=True).run([request("a")])
    later_provider = ScriptedProvider()
    [later] = make_gateway(later_provider, cache=cache).run([request("a")])

    assert fresh_provider.generate_calls == 1 and not fresh.cached
    assert later_provider.generate_calls == 0 and later.cached
    assert later.generation is not None and later.generation.output_tokens == 7  # the fresh sample was stored


def test_it_changes_the_cache_key_with_any_parameter():
    def key(provider="scripted", model="m", **changes) -> str:
        parameters = {"text": "a", **changes}
        return cache_key(provider=provider, model=model, request=request(**parameters))

    base = key()
    variants = [
        key(provider="other"),
        key(model="m2"),
        key(temperature=0.7),
        key(max_tokens=255),
        key(seed=1),
        key(stop=("\n",)),
        key(text="b"),
        cache_key(
            provider="scripted",
            model="m",
            request=GenerationRequest(
                prompt=render(PromptContent(template=SPEC.template, layout="chat"), {"text": "a"})
            ),
        ),
        cache_key(
            provider="scripted",
            model="m",
            request=GenerationRequest(
                prompt=render(
                    PromptContent(
                        template=SPEC.template,
                        layout="completion",
                        output_type="choice",
                        output_choices=("positive", "negative"),
                    ),
                    {"text": "a"},
                )
            ),
        ),
    ]

    assert len(base) == 64 and int(base, 16) >= 0
    assert base == key()  # deterministic
    assert len({base, *variants}) == len(variants) + 1
    assert key(temperature=0) == key(temperature=0.0)


def test_it_sends_identical_requests_in_one_run_once_unless_fresh():
    provider = ScriptedProvider()
    gateway = make_gateway(provider)

    results = gateway.run([request("a"), request("a"), request("b")])

    assert provider.answered == ["a", "b"]
    assert texts(results) == ["out:a", "out:a", "out:b"]
    assert [r.cached for r in results] == [False, True, False]
    assert gateway.usage == Usage(calls=2, cached_calls=1, input_tokens=20, output_tokens=4)

    fresh_provider = ScriptedProvider()
    make_gateway(fresh_provider, fresh=True).run([request("a"), request("a")])
    assert fresh_provider.answered == ["a", "a"]


def test_it_treats_an_unreadable_or_unwritable_cache_as_a_miss():
    class BrokenCache:
        def get(self, key):
            raise ConnectionError("database is down")

        def put(self, key, *, provider, model, generation):
            raise ConnectionError("database is down")

    provider = ScriptedProvider()

    results = make_gateway(provider, cache=BrokenCache()).run([request("a")])

    assert texts(results) == ["out:a"]
    assert provider.generate_calls == 1


# --- Retries


def test_it_retries_retryable_errors_with_backoff_honouring_retry_after():
    clock = FakeClock()
    provider = ScriptedProvider(
        failures=[ProviderUnavailableError("429", retry_after_seconds=7), ProviderUnavailableError("503")]
    )
    gateway = make_gateway(provider, clock=clock, retry=RetryPolicy(initial_wait_seconds=2, jitter_seconds=0))

    [result] = gateway.run([request("a")])

    assert result.generation is not None and result.error == ""
    assert clock.sleeps == [7, 4]  # Retry-After as given, then 2 * 2**1 for the second retry
    assert provider.generate_calls == 3
    assert result.retries == 2
    assert gateway.usage == Usage(calls=1, input_tokens=10, output_tokens=2, retries=2)


def test_it_backs_off_exponentially_with_jitter_up_to_the_cap():
    clock = FakeClock()
    provider = ScriptedProvider(failures=[ProviderUnavailableError("timeout")] * 3)
    policy = RetryPolicy(max_attempts=4, initial_wait_seconds=1, max_wait_seconds=3, jitter_seconds=0.5)

    [result] = make_gateway(provider, clock=clock, retry=policy).run([request("a")])

    assert result.generation is not None
    first, second, third = clock.sleeps
    assert 1 <= first <= 1.5 and 2 <= second <= 2.5 and third == 3


def test_it_fails_a_request_at_once_with_the_providers_message_on_a_non_retryable_error():
    clock = FakeClock()
    provider = ScriptedProvider(failures=[ProviderRequestError("unknown model 'gpt-9'")])
    gateway = make_gateway(provider, clock=clock)

    results = gateway.run([request("a"), request("b")])

    assert results[0].generation is None and results[0].error == "unknown model 'gpt-9'"
    assert not results[0].not_run and results[0].retries == 0
    assert results[1].generation is not None  # one failure does not stop the others
    assert clock.sleeps == []
    assert provider.generate_calls == 2
    assert gateway.usage.failures == 1 and gateway.usage.calls == 2


def test_it_gives_up_when_a_call_runs_out_of_attempts():
    clock = FakeClock()
    provider = ScriptedProvider(failures=[ProviderUnavailableError("503 Service Unavailable")] * 5)
    gateway = make_gateway(provider, clock=clock, retry=RetryPolicy(max_attempts=3, jitter_seconds=0))

    [result] = gateway.run([request("a")])

    assert result.generation is None
    assert result.error == "503 Service Unavailable (gave up after 3 attempts)"
    assert provider.generate_calls == 3 and len(clock.sleeps) == 2
    assert gateway.usage == Usage(calls=1, retries=2, failures=1)


def test_it_gives_up_when_the_gateways_total_retry_wait_is_spent():
    clock = FakeClock()
    provider = ScriptedProvider(failures=[ProviderUnavailableError("429", retry_after_seconds=6)] * 3)
    gateway = make_gateway(provider, clock=clock, retry=RetryPolicy(max_total_wait_seconds=10, jitter_seconds=0))

    first, second = gateway.run([request("a"), request("b")])

    assert clock.sleeps == [6]  # a second wait of 6 s would pass the 10 s shared between all calls
    assert first.error == "429 (gave up after 2 attempts: the retry budget of 10 s of waiting is spent)"
    assert second.error == "429 (gave up after 1 attempt: the retry budget of 10 s of waiting is spent)"
    assert gateway.exhausted_reason is None  # retries ran out, not a budget


def test_it_does_not_wait_for_a_retry_past_the_wall_time_budget():
    clock = FakeClock()
    provider = ScriptedProvider(failures=[ProviderUnavailableError("429", retry_after_seconds=60)])
    gateway = make_gateway(provider, clock=clock, budget=Budget(max_seconds=30))

    [result] = gateway.run([request("a")])

    assert clock.sleeps == []
    assert result.error == (
        "429 (gave up after 1 attempt: waiting 60 s would pass the wall-time budget (max_seconds 30))"
    )


# --- Budgets


def test_it_stops_at_max_calls_keeping_completed_results_and_marking_the_rest_not_run():
    provider = ScriptedProvider()
    gateway = make_gateway(provider, budget=Budget(max_calls=3))

    results = gateway.run([request(str(n)) for n in range(5)])

    assert texts(results) == ["out:0", "out:1", "out:2", None, None]
    assert [r.not_run for r in results] == [False, False, False, True, True]
    assert results[3].error == results[4].error == "budget exhausted: max_calls 3 reached"
    assert gateway.exhausted_reason == "budget exhausted: max_calls 3 reached"
    assert provider.generate_calls == 3
    assert gateway.usage == Usage(calls=3, input_tokens=30, output_tokens=6, not_run=2)


def test_it_is_not_exhausted_when_the_calls_exactly_fit_the_budget():
    gateway = make_gateway(ScriptedProvider(), budget=Budget(max_calls=2))

    results = gateway.run([request("a"), request("b")])

    assert all(r.ok for r in results) and gateway.exhausted_reason is None


def test_it_keeps_serving_cache_hits_but_no_new_calls_after_a_budget_is_exhausted():
    provider = ScriptedProvider()
    gateway = make_gateway(provider, budget=Budget(max_calls=1))
    gateway.run([request("a"), request("b")])

    cached, refused = gateway.run([request("a"), request("c")])

    assert cached.cached and cached.generation is not None
    assert refused.not_run and refused.error == "budget exhausted: max_calls 1 reached"
    assert provider.answered == ["a"]


def test_it_trims_a_batch_to_the_calls_left_in_the_budget():
    provider = ScriptedProvider(batch_size=4)
    gateway = make_gateway(provider, budget=Budget(max_calls=6))

    results = gateway.run([request(str(n)) for n in range(8)])

    assert provider.batch_sizes == [4, 2]
    assert [r.ok for r in results] == [True] * 6 + [False] * 2
    assert [r.not_run for r in results] == [False] * 6 + [True] * 2


def test_it_stops_at_max_tokens_once_the_limit_is_reached():
    gateway = make_gateway(ScriptedProvider(), budget=Budget(max_tokens=30))

    results = gateway.run([request(str(n)) for n in range(5)])

    # 12 tokens a call: after two calls 24 < 30 so a third starts; after it, 36 refuses the fourth.
    assert [r.ok for r in results] == [True, True, True, False, False]
    assert results[3].error == "budget exhausted: max_tokens 30 reached (36 used)"
    assert gateway.usage.total_tokens == 36


def test_it_stops_at_max_cost_from_the_price_table():
    prices = {"scripted-1": ModelPrice(input_per_million=1000, output_per_million=2000)}
    gateway = make_gateway(ScriptedProvider(), budget=Budget(max_cost_usd=0.03), prices=prices)

    results = gateway.run([request(str(n)) for n in range(5)])

    assert results[0].cost_usd == pytest.approx(10 * 0.001 + 2 * 0.002)
    assert [r.ok for r in results] == [True, True, True, False, False]
    assert results[3].error == "budget exhausted: max_cost_usd 0.03 reached ($0.0420 spent)"
    assert gateway.usage.cost_usd == pytest.approx(0.042)


def test_it_counts_calls_to_an_unpriced_model_at_zero_cost_and_says_so(caplog):
    prices = {"another-model": ModelPrice(input_per_million=1, output_per_million=1)}
    with caplog.at_level(logging.WARNING, logger="promptopt.gateway"):
        gateway = make_gateway(ScriptedProvider(), budget=Budget(max_cost_usd=0.01), prices=prices)
    results = gateway.run([request("a"), request("b")])

    assert [r.cost_usd for r in results] == [0.0, 0.0]
    assert gateway.usage == Usage(calls=2, input_tokens=20, output_tokens=4)
    assert any("no price is known for model scripted-1" in r.getMessage() for r in caplog.records)


def test_it_stops_at_max_seconds_of_wall_time():
    clock = FakeClock()
    provider = ScriptedProvider(clock=clock, seconds_per_call=10)
    gateway = make_gateway(provider, clock=clock, budget=Budget(max_seconds=25))

    results = gateway.run([request(str(n)) for n in range(5)])

    # Calls start at 0, 10 and 20 s; at 30 s the budget of 25 s is spent and nothing more starts.
    assert [r.ok for r in results] == [True, True, True, False, False]
    assert results[4].error == "budget exhausted: max_seconds 25 reached"
    assert provider.generate_calls == 3


def test_it_makes_exactly_max_calls_when_calls_run_concurrently():
    provider = ScriptedProvider(max_concurrency=8, delay_for=lambda review: 0.02)
    gateway = make_gateway(provider, budget=Budget(max_calls=5), clock=None)

    results = gateway.run([request(str(n)) for n in range(20)])

    assert len(provider.answered) == 5
    assert sum(r.ok for r in results) == 5 and sum(r.not_run for r in results) == 15


def test_it_keeps_the_results_of_calls_in_flight_when_a_budget_is_crossed_concurrently():
    provider = ScriptedProvider(max_concurrency=4, delay_for=lambda review: 0.1)
    gateway = make_gateway(provider, budget=Budget(max_tokens=1))

    results = gateway.run([request(str(n)) for n in range(12)])

    completed = [r for r in results if r.ok]
    # Calls that had started when the first one crossed the limit finish and are kept; nothing else starts.
    assert 1 <= len(completed) <= 4
    assert all(r.not_run and r.error.startswith("budget exhausted: max_tokens 1") for r in results if not r.ok)
    assert gateway.usage.calls == len(completed) == len(provider.answered)
    assert gateway.usage.total_tokens == 12 * len(completed)


# --- Concurrency and batching


def test_it_bounds_concurrency_by_the_providers_max_concurrency_and_returns_results_in_order():
    # Later requests answer faster, so completion order is the reverse of request order.
    provider = ScriptedProvider(max_concurrency=4, delay_for=lambda review: 0.01 * (20 - int(review)))
    gateway = make_gateway(provider)

    results = gateway.run([request(str(n)) for n in range(20)])

    assert provider.max_active == 4
    assert [r.index for r in results] == list(range(20))
    assert texts(results) == [f"out:{n}" for n in range(20)]
    assert provider.batch_sizes == [1] * 20


def test_it_runs_concurrent_calls_faster_than_sequential_ones():
    requests = [request(str(n)) for n in range(16)]
    started = time.perf_counter()
    make_gateway(ScriptedProvider(max_concurrency=8, delay_for=lambda review: 0.05)).run(requests)
    concurrent = time.perf_counter() - started

    # 16 calls of 50 ms: about 0.8 s one at a time, about 0.1 s eight at a time.
    assert concurrent < 0.4


def test_it_calls_a_provider_that_declares_nothing_sequentially_one_request_at_a_time():
    provider = ScriptedProvider(delay_for=lambda review: 0.001)

    make_gateway(provider).run([request(str(n)) for n in range(5)])

    assert provider.max_active == 1 and provider.batch_sizes == [1] * 5


def test_it_sends_batches_of_the_providers_batch_size_in_order():
    provider = ScriptedProvider(batch_size=3)

    results = make_gateway(provider).run([request(str(n)) for n in range(7)])

    assert provider.batch_sizes == [3, 3, 1] and provider.max_active == 1
    assert provider.answered == [str(n) for n in range(7)]
    assert texts(results) == [f"out:{n}" for n in range(7)]


def test_it_confines_a_refused_request_to_itself_when_its_batch_is_refused():
    provider = ScriptedProvider(batch_size=3, refused_reviews=["1"])
    gateway = make_gateway(provider)

    results = gateway.run([request("0"), request("1"), request("2")])

    assert texts(results) == ["out:0", None, "out:2"]
    assert results[1].error == "the prompt is longer than the model's context" and not results[1].not_run
    assert provider.batch_sizes == [3, 1, 1, 1]
    assert gateway.usage == Usage(calls=3, input_tokens=20, output_tokens=4, retries=3, failures=1)


def test_it_fails_requests_when_the_provider_returns_the_wrong_number_of_answers():
    class ShortProvider(ScriptedProvider):
        def generate(self, requests):
            return super().generate(requests)[:-1]

    [result] = make_gateway(ShortProvider()).run([request("a")])

    assert result.error == "the scripted provider returned 0 answers for 1 requests"


def test_it_turns_an_unexpected_provider_exception_into_failed_results_without_raising():
    provider = ScriptedProvider(failures=[KeyError("choices")])

    results = make_gateway(provider).run([request("a"), request("b")])

    assert results[0].error == "the scripted provider failed unexpectedly: KeyError"
    assert results[1].ok
    assert provider.generate_calls == 2  # a defect is not retried


def test_it_refuses_a_provider_with_a_nonsensical_concurrency():
    with pytest.raises(ProviderConfigError, match="max_concurrency"):
        make_gateway(ScriptedProvider(max_concurrency=0))


def test_it_runs_worker_threads_in_the_callers_log_context():
    provider = ScriptedProvider(max_concurrency=3)

    with log_context(run_id="run-42"):
        make_gateway(provider).run([request(str(n)) for n in range(6)])

    assert provider.run_ids == ["run-42"] * 6


# --- Callbacks and usage


def test_it_calls_on_result_once_per_request_in_the_callers_thread():
    cache = InMemoryResponseCache()
    make_gateway(ScriptedProvider(), cache=cache).run([request("cached")])
    provider = ScriptedProvider(max_concurrency=4, delay_for=lambda review: 0.01)
    gateway = make_gateway(provider, cache=cache)
    seen: list[tuple[int, int]] = []

    results = gateway.run(
        [request("a"), request("cached"), request("b"), request("a"), request("c"), request("d"), request("e")],
        on_result=lambda result: seen.append((result.index, threading.get_ident())),
    )

    assert sorted(index for index, _ in seen) == list(range(7))
    assert {thread for _, thread in seen} == {threading.get_ident()}
    assert seen[0][0] == 1  # the cache hit is delivered before any call finishes
    assert texts(results) == ["out:a", "out:cached", "out:b", "out:a", "out:c", "out:d", "out:e"]


def test_it_stops_starting_calls_when_on_result_raises():
    provider = ScriptedProvider(max_concurrency=2, delay_for=lambda review: 0.02)

    def fail(result: CallResult) -> None:
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError, match="database went away"):
        make_gateway(provider).run([request(str(n)) for n in range(20)], on_result=fail)

    assert provider.generate_calls <= 4


def test_it_keeps_usage_totals_exact_and_equal_to_the_sum_of_the_results():
    cache = InMemoryResponseCache()
    make_gateway(ScriptedProvider(), cache=cache).run([request("d")])
    prices = {"scripted-1": ModelPrice(input_per_million=1000, output_per_million=2000)}
    provider = ScriptedProvider(
        failures=[ProviderUnavailableError("503", retry_after_seconds=1)], refused_reviews=["b"]
    )
    gateway = make_gateway(provider, cache=cache, budget=Budget(max_calls=3), prices=prices)

    results = gateway.run([request("a"), request("b"), request("c"), request("d"), request("a"), request("e")])

    assert [(r.ok, r.cached, r.not_run, r.retries) for r in results] == [
        (True, False, False, 1),  # a: one retry after a 503
        (False, False, False, 0),  # b: refused by the provider
        (True, False, False, 0),  # c
        (True, True, False, 0),  # d: from the cache
        (True, True, False, 0),  # a again: shares the first answer
        (False, False, True, 0),  # e: max_calls reached
    ]
    expected = Usage(
        calls=3, cached_calls=2, input_tokens=20, output_tokens=4, cost_usd=0.028, retries=1, failures=1, not_run=1
    )
    assert gateway.usage == expected
    assert sum((r.usage for r in results), Usage()) == expected
    assert results[0].cost_usd == 0.014


class RecordingJournal:
    """A spend journal that notes what it was told, from which thread, and how far ahead of the provider
    its count of calls was each time a call was journaled."""

    def __init__(self, provider: ScriptedProvider) -> None:
        self.provider = provider
        self.sent = 0
        self.usage = Usage()
        self.threads: set[int] = set()
        self.sent_ahead_of_provider: list[int] = []

    def calls_sent(self, count: int) -> None:
        self.threads.add(threading.get_ident())
        self.sent += count
        self.sent_ahead_of_provider.append(self.sent - sum(self.provider.batch_sizes))

    def settled(self, usage: Usage) -> None:
        self.threads.add(threading.get_ident())
        self.usage = self.usage + usage

    def flush(self) -> None:
        self.threads.add(threading.get_ident())


@pytest.mark.parametrize("concurrency", [1, 4])
def test_it_journals_each_call_before_the_provider_receives_it_and_all_spending_in_the_callers_thread(concurrency):
    cache = InMemoryResponseCache()
    make_gateway(ScriptedProvider(), cache=cache).run([request("cached")])
    prices = {"scripted-1": ModelPrice(input_per_million=1000, output_per_million=2000)}
    provider = ScriptedProvider(max_concurrency=concurrency, delay_for=lambda review: 0.005)
    journal = RecordingJournal(provider)
    gateway = make_gateway(provider, cache=cache, prices=prices, budget=Budget(max_calls=8), journal=journal)

    gateway.run([request(str(n)) for n in range(10)] + [request("cached"), request("3")])

    # Each call was on the books before its request reached the provider, never after it.
    assert journal.sent_ahead_of_provider and all(ahead >= 1 for ahead in journal.sent_ahead_of_provider)
    assert journal.sent == 8 == gateway.usage.calls
    # Everything else the results cost (cache hits, tokens, cost) reached the journal too.
    assert journal.usage == gateway.usage
    assert (journal.usage.cached_calls, journal.usage.not_run) == (2, 2)
    assert journal.threads == {threading.get_ident()}


def test_it_journals_what_the_calls_in_flight_cost_when_the_work_stops_on_an_error():
    provider = ScriptedProvider(max_concurrency=3, delay_for=lambda review: 0.02)
    journal = RecordingJournal(provider)
    gateway = make_gateway(provider, journal=journal)

    def fail(result: CallResult) -> None:
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError, match="database went away"):
        gateway.run([request(str(n)) for n in range(10)], on_result=fail)

    # The calls still in flight when the first result's callback failed finished, and their cost was booked.
    assert journal.sent == gateway.usage.calls >= 2
    assert journal.usage == gateway.usage


def test_it_journals_retries_and_failed_calls():
    provider = ScriptedProvider(
        failures=[ProviderUnavailableError("503", retry_after_seconds=0)], refused_reviews=["b"]
    )
    journal = RecordingJournal(provider)
    gateway = make_gateway(provider, journal=journal)

    gateway.run([request("a"), request("b")])

    assert journal.usage == gateway.usage
    assert (journal.sent, journal.usage.retries, journal.usage.failures) == (2, 1, 1)


def test_it_validates_budgets_prices_and_retry_policies_by_field_name():
    with pytest.raises(InvalidInputError, match="max_calls"):
        Budget(max_calls=-1)
    with pytest.raises(InvalidInputError, match="max_seconds"):
        Budget(max_seconds=float("nan"))
    with pytest.raises(InvalidInputError, match="output_per_million"):
        ModelPrice(input_per_million=1, output_per_million=-2)
    with pytest.raises(InvalidInputError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


# --- Logs


def test_it_logs_each_call_with_structured_fields_and_never_the_prompt_text(caplog):
    secret = "SECRET-REVIEW-TEXT"
    provider = ScriptedProvider(refused_reviews=[f"{secret} refused"])
    gateway = make_gateway(provider)
    caplog.set_level(logging.DEBUG, logger="promptopt.gateway")

    gateway.run([request(secret)])
    gateway.run([request(secret), request(f"{secret} refused")])

    records = [r for r in caplog.records if r.name == "promptopt.gateway"]
    by_outcome = {r.outcome: r for r in records}
    assert set(by_outcome) == {"ok", "cached", "error"}
    ok = by_outcome["ok"]
    assert (ok.provider, ok.model, ok.input_tokens, ok.output_tokens, ok.cached, ok.retries, ok.latency_ms) == (
        "scripted",
        "scripted-1",
        10,
        2,
        False,
        0,
        5,
    )
    assert ok.levelno == logging.INFO
    assert ok.getMessage() == "scripted/scripted-1 call ok in 5 ms: 10+2 tokens, 0 retries"
    assert by_outcome["cached"].cached is True and by_outcome["cached"].levelno == logging.DEBUG
    assert by_outcome["error"].levelno == logging.WARNING
    assert by_outcome["error"].error == "the prompt is longer than the model's context"
    for record in records:
        assert secret not in record.getMessage()
        assert all(secret not in str(value) for value in vars(record).values())


# --- The real embedded model


@pytest.mark.integration
def test_it_makes_no_provider_call_for_a_repeated_batch_on_the_local_model():
    from workflows.gateway.providers.local import LocalProvider

    class CountingProvider:
        """Passes calls to the real provider and counts them; declares no concurrency, like the provider."""

        def __init__(self, inner: LocalProvider) -> None:
            self.inner = inner
            self.name = inner.name
            self.requests = 0

        @property
        def model_name(self) -> str:
            return self.inner.model_name

        def generate(self, requests):
            self.requests += len(requests)
            return self.inner.generate(requests)

    spec = PromptContent(
        template="Review: {{text}}\nSentiment:",
        layout="completion",
        output_type="choice",
        output_choices=("positive", "negative"),
    )
    reviews = ["Loved it.", "Hated it.", "A triumph.", "Dull and slow.", "Wonderful acting."]
    requests = [GenerationRequest(prompt=render(spec, {"text": text})) for text in reviews]
    provider = CountingProvider(LocalProvider())
    gateway = Gateway(provider=provider, cache=InMemoryResponseCache())

    first = gateway.run(requests)
    calls_after_first = provider.requests
    second = gateway.run(requests)

    assert calls_after_first == 5 and provider.requests == 5
    assert all(r.ok and not r.cached for r in first) and all(r.cached for r in second)
    assert texts(second) == texts(first) and set(texts(first)) <= {"positive", "negative"}
    assert gateway.usage.calls == 5 and gateway.usage.cached_calls == 5
