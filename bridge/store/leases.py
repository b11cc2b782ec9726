"""Leases and replicas in the database: the rows ``bridge.leases`` works on.

A lease is one row per name: its holder, until when, and a fencing token that grows by one
at every change of holder. A write done under a lease (a delivery's marks) first reads the
lease row locked for share in its own transaction (``check_fence``): a holder that lost the
lease (expired, taken over: a new token) writes nothing, and a takeover waits for a write
already under way to commit, so what the new holder reads next includes it. Statements are
SQLAlchemy Core and run on SQLite and PostgreSQL alike (``FOR SHARE`` is left out on SQLite,
whose one writer at a time already orders them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.store.core import StoreCore
from bridge.store.schema import leases, replicas


@dataclass(frozen=True, slots=True)
class Fence:
    """A lease as its holder took it: writes under it carry it and are refused once the
    lease's token has moved on. ``sole``: the only process on the store (SQLite), where
    nothing else can take the lease and nothing is checked."""

    name: str
    token: int
    sole: bool = False


class LeaseLost(Exception):
    """The lease a write was done under has another holder now: the write was not made."""

    def __init__(self, fence: Fence) -> None:
        super().__init__(f"lease {fence.name!r} (token {fence.token}) is no longer held")
        self.fence = fence


async def check_fence(conn: AsyncConnection, fence: Fence | None) -> None:
    """Inside a write transaction: raise ``LeaseLost`` unless ``fence`` still names the
    lease's token, and keep the row locked for share until the transaction ends (a
    takeover waits for this write; SQLite ignores the lock and has one writer anyway)."""
    if fence is None or fence.sole:
        return
    query = select(leases.c.token).where(leases.c.name == fence.name).with_for_update(read=True)
    row = (await conn.execute(query)).first()
    if row is None or int(row.token) != fence.token:
        raise LeaseLost(fence)


class LeaseStore(StoreCore):
    """Reads and writes of ``leases`` and ``replicas``."""

    async def take_lease(self, name: str, holder: str, until: float, now: float) -> int | None:
        """Take the lease ``name`` for ``holder`` until ``until`` if it is free, expired or
        already theirs; returns its fencing token, or None while another holder has it."""
        stmt = self._insert(leases).values(name=name, holder=holder, token=1, expires_at=until)
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={
                "holder": holder,
                # Same holder: nobody else wrote under it meanwhile, the token stays.
                "token": case((leases.c.holder == holder, leases.c.token), else_=leases.c.token + 1),
                "expires_at": until,
            },
            where=or_(leases.c.holder == holder, leases.c.expires_at < now),
        ).returning(leases.c.token)
        async with self._write() as conn:
            row = (await conn.execute(stmt)).first()
        return int(row.token) if row is not None else None

    async def renew_leases(self, holder: str, fences: Sequence[Fence], until: float) -> set[str]:
        """Extend the holder's leases whose token is unchanged; returns the names renewed
        (the others were taken over: lost)."""
        renewed: set[str] = set()
        if not fences:
            return renewed
        async with self._write() as conn:
            for fence in fences:
                result = await conn.execute(
                    update(leases)
                    .where(leases.c.name == fence.name, leases.c.holder == holder, leases.c.token == fence.token)
                    .values(expires_at=until)
                )
                if result.rowcount:
                    renewed.add(fence.name)
        return renewed

    async def release_lease(self, holder: str, fence: Fence) -> None:
        """Give the lease up at once (its row stays, so the token keeps growing)."""
        async with self._write() as conn:
            await conn.execute(
                update(leases)
                .where(leases.c.name == fence.name, leases.c.holder == holder, leases.c.token == fence.token)
                .values(expires_at=0.0)
            )

    async def lease_holder(self, name: str, now: float) -> tuple[str, int] | None:
        """Who holds ``name`` now and under which token; None when nobody does."""
        row = await self._first(select(leases).where(leases.c.name == name, leases.c.expires_at >= now))
        return (row.holder, int(row.token)) if row is not None else None

    async def leases_of_others(self, prefix: str, holder: str, now: float) -> set[str]:
        """Names starting with ``prefix`` that another holder has now (one read instead of
        a refused take per name)."""
        query = select(leases.c.name).where(
            leases.c.name.startswith(prefix, autoescape=True), leases.c.holder != holder, leases.c.expires_at >= now
        )
        return {r.name for r in await self._rows(query)}

    async def beat_replica(self, replica_id: str, now: float) -> None:
        """The replica is alive (its heartbeat); replicas gone for a day are forgotten."""
        stmt = self._insert(replicas).values(id=replica_id, started_at=now, seen_at=now)
        stmt = stmt.on_conflict_do_update(index_elements=["id"], set_={"seen_at": now})
        async with self._write() as conn:
            await conn.execute(stmt)
            await conn.execute(delete(replicas).where(replicas.c.seen_at < now - 86400))

    async def live_replicas(self, since: float) -> list[str]:
        """Replicas seen since ``since``, sorted."""
        return sorted(r.id for r in await self._rows(select(replicas.c.id).where(replicas.c.seen_at >= since)))

    async def forget_replica(self, replica_id: str) -> None:
        """The replica stopped cleanly: not counted alive any more."""
        async with self._write() as conn:
            await conn.execute(delete(replicas).where(replicas.c.id == replica_id))
