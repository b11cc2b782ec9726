"""What every platform sandbox needs alike: rate limits (a token bucket and a sliding
window), a recorder of the requests received that wakes waiters, a plan of failures to
serve instead of real answers, and the ``python -m sandbox.<platform>`` entry point.

Imports nothing of ``bridge`` or ``adapters``: the sandboxes stand in for the platforms."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import socket
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Generic, Protocol, TypeVar

from aiohttp import web

from sandbox.control import controlled

Clock = Callable[[], float]


class TokenBucket:
    """``capacity`` sends at once, refilled at ``rate`` per second on ``clock``."""

    def __init__(self, capacity: float, rate: float, clock: Clock = time.monotonic) -> None:
        self.capacity = capacity
        self.rate = rate
        self.clock = clock
        self.tokens = float(capacity)
        self.stamp = clock()

    def wait_needed(self) -> float:
        """Refill; 0 when a token is there, else the seconds until one is."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        """Spend one token (after ``wait_needed`` said one is there)."""
        self.tokens -= 1

    def acquire(self) -> float:
        """Take a token if there is one: 0 when allowed, else the seconds until one is."""
        wait = self.wait_needed()
        if wait == 0:
            self.take()
        return wait


class SlidingWindow:
    """At most ``limit`` hits in any ``window`` seconds (times given by the caller)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.hits: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self.hits and self.hits[0] <= now - self.window:
            self.hits.popleft()

    def remaining(self, now: float) -> int:
        """How many more hits the window takes at ``now``."""
        self._expire(now)
        return max(0, self.limit - len(self.hits))

    def wait_needed(self, now: float) -> float:
        """0 when a hit may go at ``now``, else the seconds until the oldest counted one leaves."""
        self._expire(now)
        if len(self.hits) < self.limit:
            return 0.0
        return self.hits[-self.limit] + self.window - now

    def reset_after(self, now: float) -> float:
        """Seconds until the oldest counted hit leaves (the whole window when none is counted),
        rounded up to the millisecond: a client that waits this long is never early."""
        self._expire(now)
        return ceil_ms(self.hits[0] + self.window - now) if self.hits else self.window

    def hit(self, now: float) -> None:
        """Count one hit at ``now``."""
        self.hits.append(now)

    def take(self, now: float) -> bool:
        """Count one hit if the window has room; False when it is already full."""
        if self.wait_needed(now) > 0:
            return False
        self.hit(now)
        return True


class Changes:
    """Wakes every waiter once per change of a sandbox's state."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Something changed: wake whoever waits."""
        # Replace the event so each waiter sees every change exactly once.
        old, self._event = self._event, asyncio.Event()
        old.set()

    async def wait(self) -> None:
        """Return at the next change."""
        event = self._event
        await event.wait()

    async def wait_until(self, predicate: Callable[[], Any], within: float) -> None:
        """Wait until ``predicate()`` holds, re-checked at every change; TimeoutError after
        ``within`` seconds."""
        async with asyncio.timeout(within):
            while not predicate():
                await self.wait()


R = TypeVar("R")


class Recorder(list[R]):
    """The requests a sandbox received, oldest first (a list, as tests read it), and a
    ``changes`` signal raised each time one is recorded or answered."""

    def __init__(self) -> None:
        super().__init__()
        self.changes = Changes()

    def record(self, item: R) -> R:
        """Keep ``item`` and wake waiters."""
        self.append(item)
        self.changes.notify()
        return item


class Fault(Protocol):
    """A planned failure: ``count`` is how many more requests it answers."""

    count: int


F = TypeVar("F", bound=Fault)


class FaultPlan(Generic[F]):
    """Failures planned by a test, served in the order planned to the requests they match.

    Each sandbox keeps its own fault type (what it matches on, how it answers); a fault
    that should only hold for a while (a time-based outage) adds a ``live()`` method
    returning False once over, and the plan passes it by."""

    def __init__(self, *, drop_spent: bool = False) -> None:
        self.faults: list[F] = []
        self.drop_spent = drop_spent  # forget faults once they have answered ``count`` times

    def add(self, fault: F) -> F:
        """Plan ``fault`` after those already planned."""
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        """Drop every planned fault not yet used."""
        self.faults.clear()

    def take(self, matches: Callable[[F], bool]) -> F | None:
        """The first live fault with answers left that ``matches``, one answer spent; None
        when the request should be served for real."""
        for fault in list(self.faults):
            live = getattr(fault, "live", None)
            if fault.count <= 0 or (live is not None and not live()) or not matches(fault):
                continue
            fault.count -= 1
            if self.drop_spent and fault.count == 0:
                self.faults.remove(fault)
            return fault
        return None

    def __iter__(self) -> Iterator[F]:
        return iter(self.faults)

    def __len__(self) -> int:
        return len(self.faults)


async def listen(app: web.Application, port: int = 0, host: str = "127.0.0.1") -> tuple[web.AppRunner, str]:
    """Serve ``app`` on ``host:port`` (0 picks a free port); return the runner and the base URL.

    Stopping waits at most a second for handlers still running: a sandbox holding an answer
    back (``answer_delay``) for a client that died would otherwise hold up the test's teardown
    for aiohttp's default minute. The socket is bound here so the port is known without
    reading the site's internals."""
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    await web.SockSite(runner, sock).start()
    return runner, f"http://{host}:{sock.getsockname()[1]}"


class _Stoppable(Protocol):
    async def stop(self) -> None: ...


async def serve_forever(sandbox: _Stoppable, banner: str, control_port: int = 0) -> None:
    """Print ``banner`` and keep the started ``sandbox`` up until cancelled, with its control
    API (``sandbox.control``, for tests driving it from another process) on ``control_port``
    when not 0."""
    print(banner, flush=True)
    try:
        async with controlled(sandbox, control_port):
            await asyncio.Event().wait()
    finally:
        await sandbox.stop()


def run_main(
    description: str,
    serve: Callable[[argparse.Namespace], Coroutine[Any, Any, None]],
    argv: list[str] | None = None,
    *,
    default_port: int = 0,
    options: Callable[[argparse.ArgumentParser], None] | None = None,
) -> None:
    """``python -m sandbox.<platform> --port N``: parse the options and run ``serve`` until
    interrupted."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--control-port", type=int, default=0, help="serve sandbox.control here (tests)")
    if options is not None:
        options(parser)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))


def ceil_ms(seconds: float) -> float:
    """``seconds`` rounded up to the millisecond: a client that waits this long is never early."""
    return math.ceil(seconds * 1000) / 1000
