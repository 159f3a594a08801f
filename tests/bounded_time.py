"""Runs a call with a time bound, so a test of "bounded work" fails instead of hanging when the bound is lost.

The bound is a SIGALRM timer in the test's own thread: the call keeps the test's database connection (a
second thread would get another connection that cannot see the test's transaction), and CPython checks for
signals inside long-running C loops such as `re`'s backtracking, so even those are interrupted.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType
from typing import TypeVar

T = TypeVar("T")

# Generous: these bounds separate "linear" from "exponential or quadratic" (seconds from hours), not fast from
# slow, so a busy CI machine must never trip them.
DEFAULT_BOUND_SECONDS = 30.0


class UnboundedWorkError(AssertionError):
    pass


def within_seconds(call: Callable[[], T], seconds: float = DEFAULT_BOUND_SECONDS) -> T:
    """The call's result; UnboundedWorkError if it has not finished after `seconds`."""

    def expire(_signal: int, _frame: FrameType | None) -> None:
        raise UnboundedWorkError(f"did not finish within {seconds} s: the work is not bounded")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return call()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
