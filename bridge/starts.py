"""Each adapter starts on its own: one platform down at start fails nothing else.

Every adapter gets a state (``connecting``, ``connected``, ``failing`` with the reason)
that ``/readyz``, ``pluto-bridge status`` and the metrics show. An adapter whose start
fails for a reason that may pass (the platform unreachable, a time-out) is tried again
with doubling waits; one refused for good (a rejected token) stays ``failing`` until an
operator acts and the bridge is restarted.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from bridge.model import Platform
from bridge.ports import Adapter, DeliveryError, EventSink, PermanentError

log = logging.getLogger(__name__)

RETRY_FIRST = 5.0  # seconds before a failed start is tried again
RETRY_MAX = 300.0


class Phase(enum.StrEnum):
    """Where an adapter's start is."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    FAILING = "failing"
    STANDBY = "standby"  # a singleton connection another replica holds (bridge.singletons)


@dataclass(frozen=True, slots=True)
class AdapterState:
    """An adapter's start state; ``reason`` says why it is failing."""

    phase: Phase
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.phase.value}: {self.reason}" if self.reason else self.phase.value


class AdapterStarts:
    """Starts every adapter in parallel, keeps trying those that fail for now, and knows
    each one's state."""

    def __init__(
        self,
        adapters: Mapping[Platform, Adapter],
        sink: EventSink,
        retry_first: float = RETRY_FIRST,
        retry_max: float = RETRY_MAX,
        standby: Collection[Platform] = (),
    ) -> None:
        self.adapters = adapters
        self.sink = sink
        self.retry_first = retry_first
        self.retry_max = retry_max
        self.standby = set(standby)  # started by ``start_one`` once this replica is elected
        self.states = {
            platform: AdapterState(Phase.STANDBY if platform in self.standby else Phase.CONNECTING)
            for platform in adapters
        }
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start every adapter not on standby; return once each one has connected or
        failed once (the failing ones keep being retried in the background)."""
        await asyncio.gather(*(self.start_one(p) for p in self.adapters if p not in self.standby))

    async def start_one(self, platform: Platform) -> None:
        """Start one adapter (a standby one once elected); return after its first try."""
        self.standby.discard(platform)
        tried = asyncio.Event()
        self.states[platform] = AdapterState(Phase.CONNECTING)
        self._tasks.append(
            asyncio.create_task(self._keep_starting(platform, tried), name=f"start {platform.value}")
        )
        await tried.wait()

    async def _keep_starting(self, platform: Platform, tried: asyncio.Event) -> None:
        adapter = self.adapters[platform]
        wait = self.retry_first
        while True:
            self.states[platform] = AdapterState(Phase.CONNECTING, self.states[platform].reason)
            try:
                await adapter.start(self.sink)
            except Exception as exc:
                reason = exc.reason if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {exc}"
                self.states[platform] = AdapterState(Phase.FAILING, reason)
                tried.set()
                if isinstance(exc, PermanentError):
                    log.error("%s adapter cannot start: %s (fix it, then restart the bridge)", platform.value, reason)
                    return
                log.error(
                    "%s adapter cannot start: %s; the other platforms run, retrying in %.0fs",
                    platform.value,
                    reason,
                    wait,
                )
                await asyncio.sleep(wait)
                wait = min(wait * 2, self.retry_max)
                continue
            self.states[platform] = AdapterState(Phase.CONNECTED)
            tried.set()
            log.info("%s adapter started", platform.value)
            return

    async def state(self, platform: Platform) -> str:
        """What ``/readyz`` and ``status`` show: ``connected``, or what is wrong."""
        state = self.states[platform]
        if state.phase is Phase.STANDBY:
            return "standby: another replica runs this connection"
        if state.phase is not Phase.CONNECTED:
            return str(state)
        return await self.adapters[platform].health_problem() or Phase.CONNECTED.value

    async def stop(self) -> None:
        """Stop trying; safe twice."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
