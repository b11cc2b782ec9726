"""The store as operators see it: counts for metrics and ``status``, dead letters
(``pluto-bridge deliveries``), and the running bridge's own state (the ``runtime`` table).

Kept apart from ``Store``'s hot path: these are few, simple queries an operator's command
or a metrics scrape makes; they work on any ``Store`` (SQLite in WAL mode lets another
process read and write while the bridge runs).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update

from bridge.store.outbox import WAITING
from bridge.store.records import DeliveryStatus
from bridge.store.schema import links, outbox, runtime
from bridge.store.store import Store


@dataclass(frozen=True, slots=True)
class StoreCounts:
    """What is queued, what died, and the links, as counts."""

    backlog: dict[str, int]  # platform -> pending deliveries (and any being sent)
    dead: dict[str, int]  # platform -> dead deliveries
    links: dict[str, int]  # status -> links
    oldest_pending: float | None  # when the oldest pending delivery was queued (epoch seconds)


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """One outbox row for an operator."""

    id: int
    item_key: str
    link_id: int
    platform: str
    status: str
    attempts: int
    reason: str
    created_at: float
    link: str | None  # "platform:user_id" with the Pluto username, or None when the link is gone

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "item_key": self.item_key,
            "link_id": self.link_id,
            "platform": self.platform,
            "status": self.status,
            "attempts": self.attempts,
            "reason": self.reason,
            "created_at": self.created_at,
            "link": self.link,
        }


UNSENT = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)  # queued, or in flight (a crash can leave one so)


class DeliveryNotFound(LookupError):
    """No delivery with that id, or not in a state the operation applies to."""


async def counts(store: Store) -> StoreCounts:
    """Pending and dead deliveries per platform, links per status (one read transaction).
    A delivery "sending" (in flight, or left so by a crash until the next start looks for
    it) is not delivered yet: it counts as backlog."""
    async with store.engine.connect() as conn:
        by_status = (
            await conn.execute(
                select(outbox.c.platform, outbox.c.status, func.count())
                .where(outbox.c.status.in_([*UNSENT, DeliveryStatus.DEAD]))
                .group_by(outbox.c.platform, outbox.c.status)
            )
        ).all()
        link_rows = (await conn.execute(select(links.c.status, func.count()).group_by(links.c.status))).all()
        oldest = (
            await conn.execute(select(func.min(outbox.c.created_at)).where(outbox.c.status.in_(UNSENT)))
        ).scalar_one_or_none()
    backlog: Counter[str] = Counter()
    dead: Counter[str] = Counter()
    for platform, status, n in by_status:
        (dead if status == DeliveryStatus.DEAD else backlog)[platform] += n
    return StoreCounts(dict(backlog), dict(dead), {status: n for status, n in link_rows}, oldest)


async def list_deliveries(store: Store, *, dead_only: bool = False, link_id: int | None = None) -> list[DeliveryRow]:
    """Outbox rows that are not sent yet or were given up (sent ones are history), oldest
    first; ``dead_only`` keeps the given-up ones."""
    statuses = [DeliveryStatus.DEAD] if dead_only else [*UNSENT, DeliveryStatus.HELD, DeliveryStatus.DEAD]
    query = (
        select(outbox, links.c.platform.label("link_platform"), links.c.chat_user_id, links.c.lms_username)
        .outerjoin(links, links.c.id == outbox.c.link_id)
        .where(outbox.c.status.in_(statuses))
        .order_by(outbox.c.id)
    )
    if link_id is not None:
        query = query.where(outbox.c.link_id == link_id)
    async with store.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        DeliveryRow(
            id=r.id,
            item_key=r.item_key,
            link_id=r.link_id,
            platform=r.platform,
            status=r.status,
            attempts=r.attempts,
            reason=r.last_error,
            created_at=r.created_at,
            link=f"{r.link_platform}:{r.chat_user_id} ({r.lms_username})" if r.chat_user_id is not None else None,
        )
        for r in rows
    ]


async def retry(store: Store, delivery_ids: list[int] | None) -> list[int]:
    """Put dead deliveries back in the queue (all dead ones when ``delivery_ids`` is None);
    the running bridge's dispatcher picks them up within a second. The attempt count and
    the ``outbox.give_up_after`` budget start again; the old reason stays until the next
    attempt replaces it. Returns the ids that
    went back. Raises ``DeliveryNotFound`` for an id that is not a dead delivery."""
    async with store._write() as conn:
        query = select(outbox.c.id).where(outbox.c.status == DeliveryStatus.DEAD)
        if delivery_ids is not None:
            query = query.where(outbox.c.id.in_(delivery_ids))
        found = [row.id for row in (await conn.execute(query.order_by(outbox.c.id))).all()]
        missing = sorted(set(delivery_ids or []) - set(found))
        if missing:
            raise DeliveryNotFound(f"no dead delivery with id {', '.join(map(str, missing))}")
        if found:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(found))
                .values(status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=0.0, failing_since=None)
            )
    return found


async def drop(store: Store, delivery_id: int) -> DeliveryRow:
    """Give up a pending, held or dead delivery for good: it is never sent; the row stays,
    with status ``dropped`` and its last reason, until it is pruned."""
    row = next((r for r in await list_deliveries(store) if r.id == delivery_id), None)
    if row is None:
        raise DeliveryNotFound(f"no pending or dead delivery with id {delivery_id}")
    async with store._write() as conn:
        await conn.execute(
            update(outbox)
            .where(outbox.c.id == delivery_id, outbox.c.status.in_([*WAITING, DeliveryStatus.DEAD]))
            .values(
                status=DeliveryStatus.DROPPED,
                last_error=f"dropped by the operator; last reason: {row.reason or 'none'}",
            )
        )
    return row


async def put_runtime(store: Store, key: str, value: dict[str, Any]) -> None:
    """Record a piece of the running bridge's state (heartbeat, push receiver state)."""
    values = {"key": key, "value": value, "updated_at": time.time()}
    async with store._write() as conn:
        await store._upsert(conn, runtime, values, ("key",), ("value", "updated_at"))


async def runtime_state(store: Store) -> dict[str, tuple[dict[str, Any], float]]:
    """Every recorded state: key -> (value, when it was written)."""
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(runtime))).all()
    return {r.key: (dict(r.value), r.updated_at) for r in rows}
