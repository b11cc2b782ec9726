"""Named leases a replica holds in the shared database (issue 20).

Several ``pluto-bridge run`` processes on one PostgreSQL share the work: an outbox lane, a
singleton connection, each is done by the replica holding its lease. A lease lasts
``replicas.lease_seconds`` and is renewed by its holder every third of that; a replica
that dies stops renewing, and another takes the lease once it has expired. Each change of
holder raises the lease's fencing token, and the writes done under a lease are checked
against it (``LeaseStore.check_fence``): a replica that lost a lease (it stalled past the
expiry and another took over) cannot record anything under it any more.

On SQLite one process has the store (``bridge.store.lock``): ``SoleLeases`` holds every
lease at once and writes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable

from bridge.store.leases import Fence, LeaseStore

log = logging.getLogger(__name__)


def replica_id() -> str:
    """This process's name among the replicas: host, pid and a random part (a pid is
    reused after a restart, a container's host name often too)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Leases:
    """The leases this replica holds, renewed in the background (``run``)."""

    sole = False

    def __init__(
        self,
        store: LeaseStore,
        holder: str,
        seconds: float,
        clock: Callable[[], float] = time.time,
        ticker: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.holder = holder
        self.seconds = seconds
        self.clock = clock  # wall time, as the leases' rows keep it
        self.ticker = ticker  # this process's own time since the last renewal
        self._held: dict[str, Fence] = {}
        self._valid_until: dict[str, float] = {}  # monotonic; counted from before the write

    async def acquire(self, name: str) -> Fence | None:
        """Take the lease ``name`` if nobody else holds it; its fence, or None."""
        began = self.ticker()
        now = self.clock()
        token = await self.store.take_lease(name, self.holder, now + self.seconds, now)
        if token is None:
            return None
        fence = Fence(name, token)
        self._held[name] = fence
        self._valid_until[name] = began + self.seconds
        return fence

    async def others(self, prefix: str) -> set[str]:
        """Lease names under ``prefix`` another replica holds now (not worth trying)."""
        return await self.store.leases_of_others(prefix, self.holder, self.clock())

    def holds(self, fence: Fence) -> bool:
        """Whether the lease is still this replica's as far as it knows: renewed within two
        thirds of the lease time (renewals come every third), so a replica that stalled
        stops sending a third of the lease time before another may take over. A write
        under it is still checked by the store; a platform cannot check, hence the margin."""
        valid_until = self._valid_until.get(fence.name, 0.0) - self.seconds / 3
        return self._held.get(fence.name) == fence and self.ticker() < valid_until

    async def release(self, fence: Fence) -> None:
        """Give the lease up (the work under it is done or stopped)."""
        if self._held.get(fence.name) == fence:
            del self._held[fence.name]
            self._valid_until.pop(fence.name, None)
            await self.store.release_lease(self.holder, fence)

    async def renew(self) -> list[Fence]:
        """Extend every lease held; returns those found lost (another holder took them)."""
        held = list(self._held.values())
        began = self.ticker()
        renewed = await self.store.renew_leases(self.holder, held, self.clock() + self.seconds)
        lost = []
        for fence in held:
            if fence.name in renewed:
                self._valid_until[fence.name] = began + self.seconds
            elif self._held.get(fence.name) == fence:
                del self._held[fence.name]
                self._valid_until.pop(fence.name, None)
                lost.append(fence)
        return lost

    async def run(self) -> None:
        """Renew the leases and beat this replica's heart every third of the lease time."""
        while True:
            try:
                await self.store.beat_replica(self.holder, self.clock())
                for fence in await self.renew():
                    log.warning("lease %s lost to another replica; its work stops here", fence.name)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away for a moment: the next beat tries again
                log.exception("renewing leases failed; trying again")
            await asyncio.sleep(self.seconds / 3)

    async def live(self) -> list[str]:
        """The replicas alive now (a heartbeat within the lease time), this one included."""
        return await self.store.live_replicas(self.clock() - self.seconds)

    async def close(self) -> None:
        """Release every lease and leave the replicas (a clean stop: others take over at once)."""
        for fence in list(self._held.values()):
            await self.release(fence)
        await self.store.forget_replica(self.holder)


class SoleLeases(Leases):
    """The only process on the store (SQLite): every lease is held, nothing is written."""

    sole = True

    async def acquire(self, name: str) -> Fence | None:
        return Fence(name, 0, sole=True)

    async def others(self, prefix: str) -> set[str]:
        return set()

    def holds(self, fence: Fence) -> bool:
        return True

    async def release(self, fence: Fence) -> None:
        return None

    async def renew(self) -> list[Fence]:
        return []

    async def run(self) -> None:
        return None

    async def live(self) -> list[str]:
        return [self.holder]

    async def close(self) -> None:
        return None
