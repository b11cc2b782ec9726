"""The outbox: deliveries queued, sent, held for quiet hours, given up; and the message
map rows a sent delivery records."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.model import Platform
from bridge.store.core import StoreCore
from bridge.store.leases import Fence, check_fence
from bridge.store.records import Delivery, DeliveryStatus, MapEntry, NewDelivery
from bridge.store.schema import links, message_map, outbox

# Waiting copies: not sent and no send begun, so they can still be changed or called off.
WAITING = (DeliveryStatus.PENDING, DeliveryStatus.HELD)


def delivery_row(row: Any) -> Delivery:
    """An ``outbox`` row as the dispatcher works on it."""
    return Delivery(
        id=row.id,
        item_key=row.item_key,
        link_id=row.link_id,
        platform=Platform(row.platform),
        lane=row.lane,
        payload=row.payload,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        refs=list(row.refs or []),
        failing_since=row.failing_since,
        sending_at=row.sending_at,
    )


async def insert_deliveries(core: StoreCore, conn: AsyncConnection, deliveries: Sequence[NewDelivery]) -> int:
    """Queue deliveries, each (item, link) once; returns how many are new."""
    return await core._insert_new_rows(
        conn,
        outbox,
        [
            {
                "item_key": d.item_key,
                "link_id": d.link_id,
                "platform": d.platform.value,
                "lane": d.lane,
                "payload": d.payload,
                "status": DeliveryStatus.HELD if d.held_until is not None else DeliveryStatus.PENDING,
                "attempts": 0,
                "next_attempt_at": 0.0,
                "last_error": "",
                "refs": [],
                "created_at": time.time(),
                "held_until": d.held_until,
            }
            for d in deliveries
        ],
        ("item_key", "link_id"),
    )


class OutboxStore(StoreCore):
    """Reads and writes of ``outbox`` (and ``message_map`` when a delivery is sent)."""

    async def enqueue(self, deliveries: Sequence[NewDelivery]) -> int:
        """Queue deliveries that carry no intake cursor (notices, command results)."""
        async with self._write() as conn:
            return await insert_deliveries(self, conn, deliveries)

    async def _deliveries(self, query: Any) -> list[Delivery]:
        """The deliveries ``query`` selects."""
        return [delivery_row(r) for r in await self._rows(query)]

    async def pending_lanes(self, *, sending: bool = False) -> list[tuple[str, str]]:
        """(platform, lane) pairs that have pending deliveries (or, with ``sending``, a
        send begun and not recorded: a dead replica's, settled by the lane's next holder)."""
        statuses = (DeliveryStatus.PENDING, DeliveryStatus.SENDING) if sending else (DeliveryStatus.PENDING,)
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(outbox.c.platform, outbox.c.lane).where(outbox.c.status.in_(statuses)).distinct()
                )
            ).all()
        return [(r.platform, r.lane) for r in rows]

    async def lane_batch(self, lane: str, limit: int) -> list[Delivery]:
        """The oldest pending deliveries of a lane, in order: lanes are delivered strictly in order."""
        where = (outbox.c.lane == lane, outbox.c.status == DeliveryStatus.PENDING)
        return await self._deliveries(select(outbox).where(*where).order_by(outbox.c.id).limit(limit))

    async def record_part(self, delivery_id: int, refs: list[dict[str, Any]], fence: Fence | None = None) -> None:
        """Remember the chunks already acknowledged, so a retry never resends them."""
        async with self._write() as conn:
            await check_fence(conn, fence)
            # A chunk went through: the platform answers again, a later failure starts a new run.
            await conn.execute(update(outbox).where(outbox.c.id == delivery_id).values(refs=refs, failing_since=None))

    async def mark_sending(self, delivery_id: int, fence: Fence | None = None) -> bool:
        """A send is about to start: after a crash, this delivery is looked for on the
        platform (where it can tell) before it is sent again. False when the delivery is
        no longer queued (dropped since it was read: its person unlinked, say).
        ``fence``: the lane's lease (``LeaseLost`` once another replica holds it)."""
        if self._marks is not None and (fence is None or fence.sole):
            async with self._mark_turn():
                return await self._marks.sending(delivery_id, time.time())
        async with self._write(urgent=True) as conn:
            await check_fence(conn, fence)
            result = await conn.execute(
                update(outbox)
                .where(
                    outbox.c.id == delivery_id,
                    outbox.c.status.in_((DeliveryStatus.PENDING, DeliveryStatus.SENDING)),
                )
                .values(status=DeliveryStatus.SENDING, sending_at=time.time())
            )
        return bool(result.rowcount)

    async def requeue(
        self, delivery_id: int, refs: list[dict[str, Any]] | None = None, fence: Fence | None = None
    ) -> None:
        """Back to pending (a send found not to have arrived, or partly arrived: ``refs``)."""
        values: dict[str, Any] = {"status": DeliveryStatus.PENDING}
        if refs is not None:
            values["refs"] = refs
        async with self._write() as conn:
            await check_fence(conn, fence)
            await conn.execute(update(outbox).where(outbox.c.id == delivery_id).values(**values))

    async def mark_sent(
        self,
        delivery: Delivery,
        refs: list[dict[str, Any]],
        entries: Sequence[MapEntry],
        fence: Fence | None = None,
    ) -> None:
        """The platform acknowledged every chunk: record them in the message map (ahead of
        queued ordinary writes: the send is done, only this record is missing)."""
        if self._marks is not None and (fence is None or fence.sole):
            async with self._mark_turn():
                await self._marks.sent(delivery.id, delivery.attempts + 1, refs, entries, time.time())
            return
        async with self._write(urgent=True) as conn:
            await check_fence(conn, fence)
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == delivery.id)
                .values(status=DeliveryStatus.SENT, refs=refs, sent_at=time.time(), attempts=delivery.attempts + 1)
            )
            created = time.time()
            for e in entries:
                await self._upsert(
                    conn,
                    message_map,
                    {
                        "item_key": e.item_key,
                        "link_id": e.link_id,
                        "lms_user_id": e.lms_user_id,
                        "conversation_id": e.conversation_id,
                        "platform": e.platform.value,
                        "workspace": e.workspace,
                        "room": e.room,
                        "remote_id": e.remote_id,
                        "thread": e.thread,
                        "part": 0,
                        "created_at": created,
                    },
                    ("platform", "workspace", "room", "remote_id"),
                    (),
                )

    async def reschedule(
        self, delivery_id: int, *, at: float, error: str, count_attempt: bool, fence: Fence | None = None
    ) -> None:
        """Try again at ``at``; the first failure of a run starts the give-up clock."""
        values: dict[str, Any] = {
            "status": DeliveryStatus.PENDING,
            "next_attempt_at": at,
            "last_error": error,
            "failing_since": func.coalesce(outbox.c.failing_since, time.time()),
        }
        if count_attempt:
            values["attempts"] = outbox.c.attempts + 1
        async with self._write() as conn:
            await check_fence(conn, fence)
            await conn.execute(update(outbox).where(outbox.c.id == delivery_id).values(**values))

    async def mark_dead(self, delivery_id: int, reason: str, fence: Fence | None = None) -> None:
        """The delivery is given up (``reason`` kept for the operator)."""
        async with self._write() as conn:
            await check_fence(conn, fence)
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == delivery_id)
                .values(status=DeliveryStatus.DEAD, last_error=reason, attempts=outbox.c.attempts + 1)
            )

    async def deliveries(
        self, *, status: DeliveryStatus | None = None, link_id: int | None = None, lane: str | None = None
    ) -> list[Delivery]:
        """Outbox rows, oldest first (operators' view, a lane's settling, tests)."""
        query = select(outbox).order_by(outbox.c.id)
        if status is not None:
            query = query.where(outbox.c.status == status)
        if link_id is not None:
            query = query.where(outbox.c.link_id == link_id)
        if lane is not None:
            query = query.where(outbox.c.lane == lane)
        return await self._deliveries(query)

    async def due_held(self, now: float) -> list[Delivery]:
        """Deliveries held for quiet hours whose hold has ended, oldest first."""
        where = (outbox.c.status == DeliveryStatus.HELD, outbox.c.held_until <= now)
        return await self._deliveries(select(outbox).where(*where).order_by(outbox.c.id))

    async def release_held_of(self, lms_user_id: int, at: float) -> None:
        """Quiet hours switched off: what was held goes out in the next digest."""
        async with self._write() as conn:
            ids = select(links.c.id).where(links.c.lms_user_id == lms_user_id)
            await conn.execute(
                update(outbox)
                .where(outbox.c.status == DeliveryStatus.HELD, outbox.c.link_id.in_(ids))
                .values(held_until=at)
            )

    async def mark_digested(self, delivery_ids: Sequence[int], digest_key: str, digests: Sequence[NewDelivery]) -> None:
        """Held deliveries leave the hold and the digests that list them are queued, in one
        transaction: a crash between the two can neither lose nor repeat them."""
        async with self._write() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(list(delivery_ids)))
                .values(status=DeliveryStatus.DIGESTED, last_error=f"sent in digest {digest_key}")
            )
            await insert_deliveries(self, conn, digests)

    async def refs_of_item(self, item_key: str) -> list[tuple[Delivery, list[dict[str, Any]]]]:
        """Every sent copy of an item: (delivery, its chunk refs), on every link."""
        where = (outbox.c.item_key == item_key, outbox.c.status == DeliveryStatus.SENT)
        return [(d, list(d.refs)) for d in await self._deliveries(select(outbox).where(*where).order_by(outbox.c.id))]

    async def delivery_by_id(self, delivery_id: int) -> Delivery | None:
        row = await self._first(select(outbox).where(outbox.c.id == delivery_id))
        return delivery_row(row) if row else None

    async def delivery_of(self, item_key: str, link_id: int) -> Delivery | None:
        row = await self._first(select(outbox).where(outbox.c.item_key == item_key, outbox.c.link_id == link_id))
        return delivery_row(row) if row else None
