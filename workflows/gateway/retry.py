"""Retries of one provider call: backoff with jitter on retryable errors only, honouring Retry-After, within a budget.

Built on tenacity. Providers map timeouts and 408/429/5xx to `ProviderUnavailableError` (retryable) and
other refusals to `ProviderRequestError` (not retryable); this module only reads `ProviderError.retryable`,
so the rule of what is worth retrying lives with the providers, next to the status codes.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential_jitter

from promptopt.errors import InvalidInputError
from workflows.gateway.providers.base import ProviderError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry a call that failed with a retryable error.

    The wait before retry n (counting from 1) is `initial_wait_seconds * 2**(n-1)` plus up to
    `jitter_seconds` of random jitter, capped at `max_wait_seconds`, unless the provider said when to come
    back (Retry-After), which is then honoured as given. `max_total_wait_seconds` bounds the waiting of all
    calls of one gateway together, so a provider that is down fails a run in bounded time.
    """

    max_attempts: int = 4
    initial_wait_seconds: float = 1.0
    max_wait_seconds: float = 30.0
    jitter_seconds: float = 1.0
    max_total_wait_seconds: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise InvalidInputError(f"max_attempts must be 1 or more, not {self.max_attempts!r}")
        for name in ("initial_wait_seconds", "max_wait_seconds", "jitter_seconds", "max_total_wait_seconds"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InvalidInputError(f"{name} must be a finite number of 0 or more, not {value!r}")


class WaitAllowance:
    """The seconds one gateway may still spend waiting between retries, shared by all its threads."""

    def __init__(self, seconds: float) -> None:
        self._left = seconds
        self._lock = threading.Lock()

    def take(self, seconds: float) -> bool:
        """Reserves `seconds` of waiting if that much is left; the check and the reservation are one step."""
        with self._lock:
            if seconds > self._left:
                return False
            self._left -= seconds
            return True


@dataclass(frozen=True)
class Attempted(Generic[T]):
    """How a call with retries ended: a value, or the last provider error and a message saying why it stopped."""

    value: T | None = None
    error: ProviderError | None = None
    message: str = ""
    retries: int = 0


def _is_retryable(error: BaseException) -> bool:
    return isinstance(error, ProviderError) and error.retryable


def _retry_after(error: BaseException | None) -> float | None:
    seconds = getattr(error, "retry_after_seconds", None)
    # A header parsed by a provider may be anything; only a finite number is an instruction worth following.
    if isinstance(seconds, int | float) and math.isfinite(seconds):
        return max(0.0, float(seconds))
    return None


def call_with_retries(
    call: Callable[[], T],
    *,
    policy: RetryPolicy,
    allowance: WaitAllowance,
    sleep: Callable[[float], None],
    wait_refusal: Callable[[float], str | None] | None = None,
) -> Attempted[T]:
    """Calls `call` until it returns, fails with a non-retryable ProviderError, or retrying must stop.

    `wait_refusal(seconds)` lets the caller forbid a wait (the gateway's wall-time budget) with a reason.
    Only ProviderErrors become an Attempted error: anything else is a defect and propagates to the caller.
    """
    attempts = 0
    gave_up = ""
    backoff = wait_exponential_jitter(
        initial=policy.initial_wait_seconds, max=policy.max_wait_seconds, jitter=policy.jitter_seconds
    )

    def counted_call() -> T:
        nonlocal attempts
        attempts += 1
        return call()

    def wait(state: RetryCallState) -> float:
        retry_after = _retry_after(state.outcome.exception() if state.outcome is not None else None)
        # The provider said when to come back; coming back sooner would only be refused again.
        return retry_after if retry_after is not None else backoff(state)

    def stop(state: RetryCallState) -> bool:
        # tenacity computes the wait before asking whether to stop, so the wait about to be spent is known
        # here and can be checked against the budgets before any of it is spent.
        nonlocal gave_up
        attempts_made = f"{state.attempt_number} attempt{'s' if state.attempt_number > 1 else ''}"
        if state.attempt_number >= policy.max_attempts:
            gave_up = f"gave up after {attempts_made}"
            return True
        seconds = state.upcoming_sleep
        refusal = wait_refusal(seconds) if wait_refusal is not None else None
        if refusal is None and not allowance.take(seconds):
            refusal = f"the retry budget of {policy.max_total_wait_seconds:g} s of waiting is spent"
        if refusal is not None:
            gave_up = f"gave up after {attempts_made}: {refusal}"
            return True
        return False

    retrying = Retrying(sleep=sleep, stop=stop, wait=wait, retry=retry_if_exception(_is_retryable), reraise=True)
    try:
        value = retrying(counted_call)
    except ProviderError as error:
        message = str(error) or type(error).__name__
        return Attempted(error=error, message=f"{message} ({gave_up})" if gave_up else message, retries=attempts - 1)
    return Attempted(value=value, retries=attempts - 1)
