"""Reply routing: which chat message carried which LMS item, and each conversation's thread."""

from __future__ import annotations

from sqlalchemy import select

from bridge.model import ChatIdentity, Platform
from bridge.store.core import StoreCore
from bridge.store.records import MapEntry
from bridge.store.schema import conversation_threads, message_map


class ThreadStore(StoreCore):
    """Reads of ``message_map``; reads and writes of ``conversation_threads``."""

    async def find_remote(self, identity: ChatIdentity, room: str, remote_id: str) -> MapEntry | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(message_map).where(
                        message_map.c.platform == identity.platform.value,
                        message_map.c.workspace == identity.workspace,
                        message_map.c.room == room,
                        message_map.c.remote_id == remote_id,
                    )
                )
            ).first()
        if row is None:
            return None
        return MapEntry(
            row.item_key,
            row.link_id,
            row.lms_user_id,
            row.conversation_id,
            Platform(row.platform),
            row.workspace,
            row.room,
            row.remote_id,
            row.thread,
        )

    async def thread_of(self, link_id: int, conversation_id: int) -> str | None:
        async with self.engine.connect() as conn:
            return (
                await conn.execute(
                    select(conversation_threads.c.thread).where(
                        conversation_threads.c.link_id == link_id,
                        conversation_threads.c.conversation_id == conversation_id,
                    )
                )
            ).scalar_one_or_none()

    async def set_thread(self, link_id: int, conversation_id: int, thread: str) -> None:
        async with self._write() as conn:
            await self._upsert(
                conn,
                conversation_threads,
                {"link_id": link_id, "conversation_id": conversation_id, "thread": thread},
                ("link_id", "conversation_id"),
                (),
            )
