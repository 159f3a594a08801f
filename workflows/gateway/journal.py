"""What a gateway tells a durable spend journal, and when, so a job's totals survive its worker being killed.

The in-memory ledger (budget.py) dies with the worker; a journal is written as the spending happens. A call
is journaled *before* its request is sent, so a worker killed while the provider works on it has already
counted it: the totals never fall below what the provider received. Its tokens, cost and retries are known
only once it returns and are journaled then. Both methods are called only from the thread that called
`Gateway.run()`, so a database-backed journal stays on that thread's connection.
"""

from __future__ import annotations

from typing import Protocol

from workflows.gateway.budget import Usage


class SpendJournal(Protocol):
    def calls_sent(self, count: int) -> None:
        """`count` uncached calls are about to be sent; raising here stops them from being sent."""

    def settled(self, usage: Usage) -> None:
        """One result's share of the spending, except its calls (counted by `calls_sent`)."""

    def flush(self) -> None:
        """Write anything the journal held back (it may batch cache hits, which cost nothing)."""
