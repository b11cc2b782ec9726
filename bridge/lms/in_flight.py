"""How many people a poll cycle reads at once: as many as keep the LMS request budget busy
at the LMS's current latency, and no more.

Requests in flight = rate x latency (Little's law): a site answering in 50 ms needs ten
requests in flight to serve 200 a second, one answering in 2 ms needs one. Reading more
people at once than that only queues them at the rate limiter, holding memory and database
connections for nothing; reading fewer leaves the budget unused and the cycle long.
"""

from __future__ import annotations

import asyncio
import math
from typing import Protocol

# Room above the exact figure, for the bridge's own work between two requests of one person.
HEADROOM = 1.5


class Paced(Protocol):
    """What the limit reads of the LMS client."""

    max_requests_per_second: float | None
    latency: float


class InFlightLimit:
    """An async context manager: at most ``capacity()`` holders at once."""

    def __init__(self, client: Paced, floor: int, ceiling: int) -> None:
        """``floor``: people read at once at least; ``ceiling``: at most, however slow the LMS."""
        self.client = client
        self.floor = max(1, floor)
        self.ceiling = max(self.floor, ceiling)
        self.active = 0
        self._free = asyncio.Condition()

    def capacity(self) -> int:
        """People to read at once now."""
        rate, latency = self.client.max_requests_per_second, self.client.latency
        if not rate or not latency:
            return self.floor if rate else self.ceiling
        return max(self.floor, min(self.ceiling, math.ceil(rate * latency * HEADROOM)))

    async def __aenter__(self) -> None:
        async with self._free:
            await self._free.wait_for(lambda: self.active < self.capacity())
            self.active += 1

    async def __aexit__(self, *exc: object) -> None:
        async with self._free:
            self.active -= 1
            # Wake as many as may start now (more than one once the LMS has slowed down).
            self._free.notify(max(1, self.capacity() - self.active))
