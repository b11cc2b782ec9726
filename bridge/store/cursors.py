"""Intake state: per-person cursors and known conversations, written with what intake found."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.store.core import StoreCore, _now, chunks
from bridge.store.items import insert_item
from bridge.store.mutes import write_group_mutes
from bridge.store.outbox import insert_deliveries
from bridge.store.records import ConversationInfo, Cursor, ItemRow, MuteChange, NewDelivery
from bridge.store.schema import conversations, cursors


class CursorStore(StoreCore):
    """Reads and writes of ``cursors`` and ``conversations``, and intake's one commit."""

    async def cursors_of(self, lms_user_id: int) -> dict[str, Cursor]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(cursors).where(cursors.c.lms_user_id == lms_user_id))).all()
        return {r.scope: Cursor(r.watermark, frozenset(r.seen_ids)) for r in rows}

    async def cursors_of_users(self, lms_user_ids: Sequence[int]) -> dict[int, dict[str, Cursor]]:
        """``cursors_of`` for a poll cycle's people in one query (everyone listed has an entry)."""
        found: dict[int, dict[str, Cursor]] = {uid: {} for uid in lms_user_ids}
        async with self.engine.connect() as conn:
            for chunk in chunks(lms_user_ids):
                query = select(cursors).where(cursors.c.lms_user_id.in_(chunk))
                for r in (await conn.execute(query)).all():
                    found[r.lms_user_id][r.scope] = Cursor(r.watermark, frozenset(r.seen_ids))
        return found

    async def users_with_cursor(self, lms_user_ids: Sequence[int], scope: str) -> set[int]:
        """Those of these people who have a cursor of ``scope``."""
        found: set[int] = set()
        async with self.engine.connect() as conn:
            for chunk in chunks(lms_user_ids):
                query = select(cursors.c.lms_user_id).where(cursors.c.lms_user_id.in_(chunk), cursors.c.scope == scope)
                found.update((await conn.execute(query)).scalars())
        return found

    async def conversations_of(self, lms_user_id: int) -> list[ConversationInfo]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(conversations)
                    .where(conversations.c.lms_user_id == lms_user_id)
                    .order_by(conversations.c.last_time.desc())
                )
            ).all()
        return [ConversationInfo(r.conversation_id, r.type, r.name, r.peer_id) for r in rows]

    async def commit_intake(
        self,
        lms_user_id: int,
        cursor_updates: dict[str, Cursor],
        deliveries: Sequence[NewDelivery],
        conversation_rows: Sequence[tuple[ConversationInfo, int]] = (),
        new_items: Sequence[ItemRow] = (),
        mutes: MuteChange | None = None,
    ) -> int:
        """Write the deliveries and the new cursors in one transaction: nothing intake has
        seen is skipped, and nothing is queued twice (unique item per link). ``mutes``: what
        the person's listing changed in their group mutes."""
        async with self._write() as conn:
            if mutes is not None:
                await write_group_mutes(self, conn, lms_user_id, mutes)
            for row in new_items:
                await insert_item(conn, lms_user_id, row)
            for info, last_time in conversation_rows:
                await self._upsert(
                    conn,
                    conversations,
                    {
                        "lms_user_id": lms_user_id,
                        "conversation_id": info.conversation_id,
                        "type": info.type,
                        "name": info.name,
                        "peer_id": info.peer_id,
                        "last_time": last_time,
                    },
                    ("lms_user_id", "conversation_id"),
                    ("type", "name", "peer_id", "last_time"),
                )
            created = await insert_deliveries(self, conn, deliveries)
            for scope, cursor in cursor_updates.items():
                await write_cursor(self, conn, lms_user_id, scope, cursor)
        return created


async def write_cursor(core: StoreCore, conn: AsyncConnection, lms_user_id: int, scope: str, cursor: Cursor) -> None:
    """Store one person's cursor of one scope (inside the caller's transaction)."""
    await core._upsert(
        conn,
        cursors,
        {
            "lms_user_id": lms_user_id,
            "scope": scope,
            "watermark": cursor.watermark,
            "seen_ids": sorted(cursor.seen_ids),
            "updated_at": _now(),
        },
        ("lms_user_id", "scope"),
        ("watermark", "seen_ids", "updated_at"),
    )
