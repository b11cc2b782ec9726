"""Items the bridge tracks until handled: alerts, tasks, contact requests."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, null, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.model import Platform
from bridge.store.core import StoreCore, _now, chunks
from bridge.store.outbox import WAITING, delivery_row, insert_deliveries
from bridge.store.records import Delivery, DeliveryStatus, ItemRow, NewDelivery
from bridge.store.schema import items, outbox, processed_events


async def insert_item(conn: AsyncConnection, lms_user_id: int, row: ItemRow) -> None:
    """Track a new item under the next short id of its person; an item known already stays as it is."""
    exists = (
        await conn.execute(
            select(func.count())
            .select_from(items)
            .where(items.c.lms_user_id == lms_user_id, items.c.item_key == row.item_key)
        )
    ).scalar_one()
    if exists:
        return
    short = (
        await conn.execute(
            select(func.coalesce(func.max(items.c.short_id), 0)).where(items.c.lms_user_id == lms_user_id)
        )
    ).scalar_one()
    # A new item is open, under its person's next short id; the rest is as intake read it.
    fresh = {"lms_user_id": lms_user_id, "short_id": short + 1, "status": "open", "outcome": ""}
    await conn.execute(insert(items).values(**{**dataclasses.asdict(row), **fresh}))


class ItemStore(StoreCore):
    """Reads and writes of ``items``."""

    def _item(self, row: Any) -> ItemRow:
        return ItemRow(
            item_key=row.item_key,
            kind=row.kind,
            subject=row.subject,
            url=row.url,
            html=row.html,
            created=row.created,
            lms_id=row.lms_id,
            data=dict(row.data or {}),
            short_id=row.short_id,
            status=row.status,
            outcome=row.outcome,
            lms_user_id=row.lms_user_id,
        )

    async def item(self, lms_user_id: int, item_key: str) -> ItemRow | None:
        row = await self._first(select(items).where(items.c.lms_user_id == lms_user_id, items.c.item_key == item_key))
        return self._item(row) if row else None

    async def item_by_short(self, lms_user_id: int, short_id: int) -> ItemRow | None:
        row = await self._first(select(items).where(items.c.lms_user_id == lms_user_id, items.c.short_id == short_id))
        return self._item(row) if row else None

    async def open_items(self, lms_user_id: int) -> list[ItemRow]:
        """Open items, newest first."""
        query = (
            select(items)
            .where(items.c.lms_user_id == lms_user_id, items.c.status == "open")
            .order_by(items.c.created.desc(), items.c.short_id.desc())
        )
        return [self._item(r) for r in await self._rows(query)]

    async def open_items_of_users(self, lms_user_ids: Sequence[int]) -> dict[int, list[ItemRow]]:
        """``open_items`` for a poll cycle's people in one query (everyone listed has an entry)."""
        found: dict[int, list[ItemRow]] = {uid: [] for uid in lms_user_ids}
        async with self.engine.connect() as conn:
            for chunk in chunks(lms_user_ids):
                query = (
                    select(items)
                    .where(items.c.lms_user_id.in_(chunk), items.c.status == "open")
                    .order_by(items.c.created.desc(), items.c.short_id.desc())
                )
                for r in (await conn.execute(query)).all():
                    found[r.lms_user_id].append(self._item(r))
        return found

    async def close_item(
        self,
        lms_user_id: int,
        item_key: str,
        status: str,
        outcome: str,
        *,
        edits: Sequence[NewDelivery] = (),
        finish: tuple[Platform, str] | None = None,
    ) -> bool:
        """Mark an item handled (or expired); False if it was no longer open. In the same
        transaction, copies not sent yet are dropped, ``edits`` (retiring the sent copies)
        are queued and the inbound event ``finish`` that decided is marked processed: a
        crash leaves all of it or none (a resumed event then decides again)."""
        async with self._write() as conn:
            result = await conn.execute(
                update(items)
                .where(items.c.lms_user_id == lms_user_id, items.c.item_key == item_key, items.c.status == "open")
                .values(status=status, outcome=outcome, handled_at=_now())
            )
            if not result.rowcount:
                return False
            await conn.execute(
                update(outbox)
                .where(outbox.c.item_key == item_key, outbox.c.status.in_(WAITING))
                .values(status=DeliveryStatus.DEAD, last_error="handled before delivery")
            )
            if edits:
                await insert_deliveries(self, conn, edits)
            if finish is not None:
                await conn.execute(
                    update(processed_events)
                    .where(processed_events.c.platform == finish[0].value, processed_events.c.event_id == finish[1])
                    .values(status="done", processed_at=_now(), event=null())
                )
        return True

    async def upgrade_item(self, lms_user_id: int, row: ItemRow, payload: dict[str, Any]) -> list[Delivery] | None:
        """An open item turned out to be another kind (a Totara task first read as an alert):
        take its new kind, text and data, and the new payload for copies not yet sent.
        Returns the copies already sent (or being sent) to edit; None if it was not open."""
        async with self._write() as conn:
            result = await conn.execute(
                update(items)
                .where(items.c.lms_user_id == lms_user_id, items.c.item_key == row.item_key, items.c.status == "open")
                .values(kind=row.kind, subject=row.subject, url=row.url, html=row.html, data=row.data)
            )
            if not result.rowcount:
                return None
            await conn.execute(
                update(outbox)
                .where(outbox.c.item_key == row.item_key, outbox.c.status.in_(WAITING))
                .values(payload=payload)
            )
            rows = (
                await conn.execute(
                    select(outbox)
                    .where(
                        outbox.c.item_key == row.item_key,
                        outbox.c.status.notin_([*WAITING, DeliveryStatus.DEAD, DeliveryStatus.DIGESTED]),
                    )
                    .order_by(outbox.c.id)
                )
            ).all()
        return [delivery_row(r) for r in rows]

    async def set_item_lms_id(self, lms_user_id: int, item_key: str, lms_id: int) -> None:
        """Totara gives an item a new id when it is read; keep the current one."""
        async with self._write() as conn:
            await conn.execute(
                update(items)
                .where(items.c.lms_user_id == lms_user_id, items.c.item_key == item_key)
                .values(lms_id=lms_id)
            )
