"""Group conversations each person muted in Pluto (``group_mutes``), as their own listing
last showed it. Intake writes a change with the person's other intake state
(``CursorStore.commit_intake``); a linked group's one read (``bridge.rooms.intake``) asks who
muted it, so every replica and every later process leaves them out of the private copies."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.store.core import StoreCore, chunks
from bridge.store.records import MuteChange
from bridge.store.schema import group_mutes


class MuteStore(StoreCore):
    """Reads of ``group_mutes``."""

    async def group_mutes_of_users(self, lms_user_ids: Sequence[int]) -> dict[int, frozenset[int]]:
        """The muted group conversations of each of these people (every id present)."""
        found: dict[int, set[int]] = {uid: set() for uid in lms_user_ids}
        async with self.engine.connect() as conn:
            for chunk in chunks(lms_user_ids):
                query = select(group_mutes).where(group_mutes.c.lms_user_id.in_(chunk))
                for row in (await conn.execute(query)).all():
                    found[row.lms_user_id].add(row.conversation_id)
        return {uid: frozenset(groups) for uid, groups in found.items()}

    async def mute_change(
        self, lms_user_id: int, listed: frozenset[int], muted: frozenset[int], stored: frozenset[int] | None = None
    ) -> MuteChange | None:
        """What a listing of the ``listed`` groups, ``muted`` of them muted, changes in the
        person's stored mutes (a group not listed keeps its state); None when nothing.
        ``stored``: as a poll cycle loaded them with everyone's (``group_mutes_of_users``);
        read here when not given."""
        if not listed:
            return None
        if stored is None:
            stored = (await self.group_mutes_of_users([lms_user_id]))[lms_user_id]
        change = MuteChange(muted - stored, (stored & listed) - muted)
        return change if change.muted or change.unmuted else None

    async def group_muters(self, conversation_id: int) -> set[int]:
        """The people who muted this group conversation."""
        query = select(group_mutes.c.lms_user_id).where(group_mutes.c.conversation_id == conversation_id)
        return {row.lms_user_id for row in await self._rows(query)}


async def write_group_mutes(core: StoreCore, conn: AsyncConnection, lms_user_id: int, change: MuteChange) -> None:
    """Apply one person's mute change (inside the caller's transaction)."""
    if change.unmuted:
        await conn.execute(
            delete(group_mutes).where(
                group_mutes.c.lms_user_id == lms_user_id, group_mutes.c.conversation_id.in_(sorted(change.unmuted))
            )
        )
    rows = [{"lms_user_id": lms_user_id, "conversation_id": c} for c in sorted(change.muted)]
    await core._insert_new_rows(conn, group_mutes, rows, ("lms_user_id", "conversation_id"))
