"""Work only one replica may do at a time, on the replica elected for it (issue 20).

A connection the platform allows once per bot (Telegram long polling, the Discord gateway,
Slack Socket Mode) and timers that must fire once (the quiet-hours digest, resuming a dead
replica's chat events, the job runners) each run under the lease ``singleton:<name>``.
Every replica tries to take the free ones every third of the lease time; the one that
does starts the work and renews the lease with its others. When it dies its leases
expire and another replica takes the work over within the lease time. A replica that
finds it lost one (it stalled past the expiry) calls ``on_lost``: the bridge stops, as
its connection may already be held elsewhere, and its supervisor starts it afresh.

On SQLite (``SoleLeases``) every singleton starts at once, as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bridge.config import Settings
from bridge.leases import Leases
from bridge.model import Platform
from bridge.store.leases import Fence

log = logging.getLogger(__name__)

SINGLETON_LEASE = "singleton:"


def singleton_platforms(settings: Settings) -> set[Platform]:
    """Platforms whose inbound connection one process at a time may hold: Telegram long
    polling, Slack Socket Mode, the Discord gateway, the console's terminal. Webhook modes
    (Slack HTTP, Telegram webhook, Teams) serve on every replica."""
    alone = {Platform.DISCORD, Platform.CONSOLE}
    if settings.telegram.mode == "polling":
        alone.add(Platform.TELEGRAM)
    if settings.slack.mode == "socket":
        alone.add(Platform.SLACK)
    return alone


@dataclass
class Singleton:
    """One piece of work: ``start`` when elected, ``stop`` when the lease is lost."""

    name: str
    start: Callable[[], Awaitable[None]]
    stop: Callable[[], Awaitable[None]]


class Singletons:
    """Elects this replica for the singletons it can take and keeps them while it can."""

    def __init__(self, leases: Leases, on_lost: Callable[[str], None] = lambda name: None) -> None:
        self.leases = leases
        self.on_lost = on_lost
        self._all: dict[str, Singleton] = {}
        self._held: dict[str, Fence] = {}

    def add(self, name: str, start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]) -> None:
        """Run ``start`` on the one replica elected for ``name``."""
        self._all[name] = Singleton(name, start, stop)

    def held(self) -> list[str]:
        """The singletons running on this replica, by name."""
        return sorted(self._held)

    async def elect(self) -> None:
        """Take the singletons that are free (and start them); give up those lost."""
        for name, fence in list(self._held.items()):
            if not self.leases.holds(fence):
                del self._held[name]
                log.error("singleton %s: lease lost to another replica; stopping it here", name)
                await self._all[name].stop()
                self.on_lost(name)
        for name, singleton in self._all.items():
            if name in self._held:
                continue
            taken = await self.leases.acquire(SINGLETON_LEASE + name)
            if taken is None:
                continue
            self._held[name] = taken
            if not taken.sole:
                log.info("singleton %s runs on this replica (lease token %d)", name, taken.token)
            try:
                await singleton.start()
            except Exception:  # its own retries are its business; the lease stays here
                log.exception("singleton %s failed to start", name)

    async def run(self) -> None:
        """Elect every third of the lease time (at once on SQLite, then only watch)."""
        while True:
            try:
                await self.elect()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away for a moment: try again at the next turn
                log.exception("electing singletons failed; trying again")
            await asyncio.sleep(max(self.leases.seconds / 3, 1.0))

    async def stop(self) -> None:
        """Stop every singleton held here (the bridge is stopping)."""
        for name in list(self._held):
            del self._held[name]
            await self._all[name].stop()
