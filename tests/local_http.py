"""Helpers for tests that talk HTTP to local servers: a port nothing listens on, and slow-handler clean-up."""

from __future__ import annotations

import socket
import time


def closed_local_port() -> int:
    """A loopback port that was free a moment ago, so connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def finish_slow_handler(httpserver, release) -> None:
    """Lets the (single-threaded) server finish the slow answer, so it cannot spill into the next test's log."""
    release.set()
    deadline = time.monotonic() + 5
    while not httpserver.log and time.monotonic() < deadline:
        time.sleep(0.01)
