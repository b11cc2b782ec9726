"""Send pacing as the platforms publish it: at most ``count`` sends in any window of
``seconds`` (Teams: 7 in 1 s, 8 in 2 s, 60 in 30 s, 1800 in an hour per conversation).

A leaky bucket (aiolimiter) lets a burst of ``count`` go and then ``count / seconds`` per
second, so after an idle spell one window can see nearly twice ``count``: adapters had to
declare half their real limits to stay clear of 429s. A sliding window of send times meets
every window exactly. A send counts from when its answer came back, not from when it
started: the platform stamped it somewhere in between, so however late a request arrived
(a loaded machine, a slow network), the next one can never land inside its window. The
same window also satisfies a platform that counts a token bucket of ``count`` refilled at
``count / seconds`` (Telegram, Slack): any stretch of time holds at most ``count`` plus the
refill.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from bisect import bisect_right, insort
from collections.abc import AsyncIterator, Iterable

from bridge.model import Pace

# Clock and float rounding: a send exactly at a window's edge could be counted inside it.
EDGE = 0.002


class SlidingWindow:
    """At most ``pace.count`` sends in any ``pace.seconds``; sends in flight count too."""

    def __init__(self, pace: Pace) -> None:
        self.count = max(1, int(pace.count))
        self.seconds = pace.seconds
        self._ends: list[float] = []  # monotonic times sends finished, oldest first
        self._open = 0  # sends taken, not finished
        self._waiters: list[asyncio.Future[None]] = []

    async def take(self) -> None:
        """Wait for room for one more send and count it as in flight."""
        while True:
            now = time.monotonic()
            expired = bisect_right(self._ends, now - self.seconds)
            if expired:
                del self._ends[:expired]
            busy = len(self._ends) + self._open
            if busy < self.count:
                self._open += 1
                return
            first_to_expire = busy - self.count  # once it leaves the window, one more fits
            if first_to_expire < len(self._ends):
                await asyncio.sleep(self._ends[first_to_expire] + self.seconds - now + EDGE)
            else:  # the window is full of sends still in flight: wait for one to finish
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                try:
                    await waiter
                finally:
                    with contextlib.suppress(ValueError):
                        self._waiters.remove(waiter)

    def finish(self, at: float) -> None:
        """A send taken earlier finished at ``at`` (monotonic): it counts from then."""
        self._open -= 1
        insort(self._ends, at)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()


def windows(paces: Iterable[Pace]) -> list[SlidingWindow]:
    """One window per declared pace."""
    return [SlidingWindow(p) for p in paces]


@contextlib.asynccontextmanager
async def turn(limits: Iterable[SlidingWindow], *, counts_until: float = 0.0) -> AsyncIterator[None]:
    """Hold one send's place in every window of ``limits`` for the block; it counts as
    finished when the block ends, or ``counts_until`` seconds later (a send made by
    someone else after the block: its end is not seen here)."""
    taken: list[SlidingWindow] = []
    try:
        for window in limits:
            await window.take()
            taken.append(window)
        yield
    finally:
        end = time.monotonic() + counts_until
        for window in taken:
            window.finish(end)
