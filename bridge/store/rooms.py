"""Group rooms: room links and their intake cursors, the LMS messages the bridge posted
from each room (echo suppression), who is in each room, and "told once a day" marks."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select, update

from bridge.model import ChatIdentity, Cursor, Platform, RoomAddress
from bridge.store.core import StoreCore, chunks
from bridge.store.cursors import write_cursor
from bridge.store.leases import Fence, check_fence
from bridge.store.outbox import insert_deliveries
from bridge.store.records import DeliveryStatus, NewDelivery, RoomLink, RoomStatus
from bridge.store.schema import outbox, room_echoes, room_links, room_members, room_told

LINKED = (RoomStatus.ACTIVE, RoomStatus.PAUSED)


def _room_clause(room: RoomAddress) -> Any:
    return (
        (room_links.c.platform == room.platform.value)
        & (room_links.c.workspace == room.workspace)
        & (room_links.c.room_id == room.room_id)
    )


def _room_link(row: Any) -> RoomLink:
    platform = Platform(row.platform)
    return RoomLink(
        id=row.id,
        room=RoomAddress(platform, row.workspace, row.room_id, row.service_url, row.room_name),
        conversation_id=row.conversation_id,
        conversation_name=row.conversation_name,
        linker_lms_user_id=row.linker_lms_user_id,
        linker=ChatIdentity(platform, row.workspace, row.linker_chat_user_id),
        reader_lms_user_id=row.reader_lms_user_id,
        status=RoomStatus(row.status),
        reason=row.reason,
        paused_at=row.paused_at,
        created_at=row.created_at,
        cursor=Cursor(row.watermark, frozenset(row.seen_ids or ())),
    )


class RoomStore(StoreCore):
    """Reads and writes of ``room_links``, ``room_echoes``, ``room_members``, ``room_told``."""

    async def room_link(self, room: RoomAddress) -> RoomLink | None:
        """The link (or link in the making) of ``room``, if any."""
        row = await self._first(select(room_links).where(_room_clause(room)))
        return _room_link(row) if row else None

    async def room_link_by_id(self, room_link_id: int) -> RoomLink | None:
        row = await self._first(select(room_links).where(room_links.c.id == room_link_id))
        return _room_link(row) if row else None

    async def room_links(self, statuses: Iterable[RoomStatus] = LINKED) -> list[RoomLink]:
        """Room links in these states (linked ones by default), oldest first."""
        wanted = [s.value for s in statuses]
        rows = await self._rows(select(room_links).where(room_links.c.status.in_(wanted)).order_by(room_links.c.id))
        return [_room_link(r) for r in rows]

    async def start_room_link(self, room: RoomAddress, linker_lms_user_id: int, linker: ChatIdentity) -> RoomLink:
        """A room link in the making (``choosing``) for ``room``; a room already linked or
        being linked keeps its row (the caller decides what a second ``room`` means)."""
        async with self._write() as conn:
            await self._insert_new(
                conn,
                room_links,
                {
                    "platform": room.platform.value,
                    "workspace": room.workspace,
                    "room_id": room.room_id,
                    "service_url": room.service_url,
                    "room_name": room.name,
                    "linker_lms_user_id": linker_lms_user_id,
                    "linker_chat_user_id": linker.user_id,
                    "status": RoomStatus.CHOOSING.value,
                    "reason": "",
                    "created_at": time.time(),
                    "watermark": 0,
                    "seen_ids": [],
                },
                ("platform", "workspace", "room_id"),
            )
            row = (await conn.execute(select(room_links).where(_room_clause(room)))).one()
            if row.status in (RoomStatus.CHOOSING, RoomStatus.CONFIRMING):
                # Whoever runs ``room`` last is the one choosing.
                await conn.execute(
                    update(room_links)
                    .where(room_links.c.id == row.id)
                    .values(
                        linker_lms_user_id=linker_lms_user_id,
                        linker_chat_user_id=linker.user_id,
                        status=RoomStatus.CHOOSING.value,
                        service_url=room.service_url or row.service_url,
                        room_name=room.name or row.room_name,
                    )
                )
                row = (await conn.execute(select(room_links).where(room_links.c.id == row.id))).one()
        return _room_link(row)

    async def update_room_link(self, room_link_id: int, **values: Any) -> None:
        """Set columns of one room link (``status`` as a ``RoomStatus``, a ``cursor``)."""
        cursor = values.pop("cursor", None)
        if isinstance(cursor, Cursor):
            values.update(watermark=cursor.watermark, seen_ids=sorted(cursor.seen_ids))
        if isinstance(values.get("status"), RoomStatus):
            values["status"] = values["status"].value
        async with self._write() as conn:
            await conn.execute(update(room_links).where(room_links.c.id == room_link_id).values(**values))

    async def pause_room(self, room_link_id: int, reason: str) -> bool:
        """Pause an active room link with ``reason``; False when it was not active."""
        async with self._write() as conn:
            result = await conn.execute(
                update(room_links)
                .where(room_links.c.id == room_link_id, room_links.c.status == RoomStatus.ACTIVE.value)
                .values(status=RoomStatus.PAUSED.value, reason=reason, paused_at=time.time())
            )
        return bool(result.rowcount)

    async def resume_room(self, room_link_id: int) -> bool:
        """Make a paused room link active again; False when it was not paused."""
        async with self._write() as conn:
            result = await conn.execute(
                update(room_links)
                .where(room_links.c.id == room_link_id, room_links.c.status == RoomStatus.PAUSED.value)
                .values(status=RoomStatus.ACTIVE.value, reason="", paused_at=None)
            )
        return bool(result.rowcount)

    async def move_room(self, room_link_id: int, to: RoomAddress) -> None:
        """The room has a new address (a Telegram group became a supergroup): the link,
        and the room's queued posts, follow it."""
        old = await self.room_link_by_id(room_link_id)
        async with self._write() as conn:
            await conn.execute(
                update(room_links)
                .where(room_links.c.id == room_link_id)
                .values(workspace=to.workspace, room_id=to.room_id, service_url=to.service_url or "")
            )
            if old is not None:
                moved = dataclasses.replace(old, room=to)
                await conn.execute(update(outbox).where(outbox.c.lane == old.lane).values(lane=moved.lane))

    async def delete_room_link(self, room_link_id: int) -> None:
        """Forget a room link, who is in the room, and the room's posts still waiting."""
        async with self._write() as conn:
            await conn.execute(delete(room_links).where(room_links.c.id == room_link_id))
            await conn.execute(delete(room_members).where(room_members.c.room_link_id == room_link_id))
            await conn.execute(
                update(outbox)
                .where(outbox.c.link_id == -room_link_id, outbox.c.status == DeliveryStatus.PENDING.value)
                .values(status=DeliveryStatus.DROPPED.value, last_error="the room was unlinked")
            )

    async def commit_room_intake(
        self,
        room_cursors: Mapping[int, Cursor],
        deliveries: Sequence[NewDelivery],
        member_cursors: Mapping[int, dict[str, Cursor]] = {},
    ) -> int:
        """One read of a group: the room posts and private copies it queues, each room's
        new cursor and each member's conversation cursor, in one transaction (nothing the
        read saw is skipped, nothing queued twice)."""
        async with self._write() as conn:
            created = await insert_deliveries(self, conn, deliveries)
            for room_link_id, cursor in room_cursors.items():
                await conn.execute(
                    update(room_links)
                    .where(room_links.c.id == room_link_id)
                    .values(watermark=cursor.watermark, seen_ids=sorted(cursor.seen_ids))
                )
            for lms_user_id, scopes in member_cursors.items():
                for scope, cursor in scopes.items():
                    await write_cursor(self, conn, lms_user_id, scope, cursor)
        return created

    async def postpone(self, delivery_id: int, at: float, reason: str, fence: Fence | None = None) -> None:
        """Keep a room post waiting until ``at`` (its room is paused) without counting a
        failure: it goes when the room is back, however long that takes. ``fence``: the room
        lane's lease (``LeaseLost`` once another replica holds it, which may have sent it)."""
        async with self._write() as conn:
            await check_fence(conn, fence)
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == delivery_id)
                .values(status=DeliveryStatus.PENDING.value, next_attempt_at=at, last_error=reason, failing_since=None)
            )

    async def record_echo(self, room_link_id: int, lms_message_id: int) -> None:
        """The bridge posted ``lms_message_id`` into the LMS from this room."""
        async with self._write() as conn:
            await self._insert_new(
                conn,
                room_echoes,
                {"lms_message_id": lms_message_id, "room_link_id": room_link_id, "created_at": time.time()},
                ("lms_message_id",),
            )

    async def echoes(self, lms_message_ids: Sequence[int]) -> dict[int, int]:
        """Of these LMS messages, those the bridge posted from a room: id -> room link id."""
        found: dict[int, int] = {}
        for part in chunks(list(lms_message_ids)):
            rows = await self._rows(select(room_echoes).where(room_echoes.c.lms_message_id.in_(part)))
            found.update({r.lms_message_id: r.room_link_id for r in rows})
        return found

    async def set_room_members(self, room_link_id: int, chat_user_ids: Iterable[str]) -> None:
        """The platform's member list of the room: exactly these people are in it."""
        now = time.time()
        async with self._write() as conn:
            await conn.execute(
                update(room_members).where(room_members.c.room_link_id == room_link_id).values(present=0)
            )
            for user_id in set(chat_user_ids):
                await self._upsert(
                    conn,
                    room_members,
                    {"room_link_id": room_link_id, "chat_user_id": user_id, "present": 1, "seen_at": now},
                    ("room_link_id", "chat_user_id"),
                    ("present", "seen_at"),
                )

    async def set_room_member(self, room_link_id: int, chat_user_id: str, present: bool, name: str = "") -> None:
        """One person joined (wrote in) or left the room; ``name`` as the platform shows it."""
        values = {"room_link_id": room_link_id, "chat_user_id": chat_user_id, "present": int(present)}
        async with self._write() as conn:
            await self._upsert(
                conn,
                room_members,
                {**values, "display_name": name, "seen_at": time.time()},
                ("room_link_id", "chat_user_id"),
                ("present", "seen_at", *(("display_name",) if name else ())),
            )

    async def room_member_ids(self, room_link_id: int) -> set[str]:
        """The chat user ids known to be in the room."""
        return set(await self.room_member_names(room_link_id))

    async def room_member_names(self, room_link_id: int) -> dict[str, str]:
        """The people known to be in the room: chat user id -> name ("" if never seen)."""
        rows = await self._rows(
            select(room_members.c.chat_user_id, room_members.c.display_name).where(
                room_members.c.room_link_id == room_link_id, room_members.c.present == 1
            )
        )
        return {r.chat_user_id: r.display_name for r in rows}

    async def tell_once(self, who: str, topic: str, every: float) -> bool:
        """True (and noted) when ``who`` was not told ``topic`` in the last ``every``
        seconds: the caller tells them now; False: told recently, say nothing."""
        now = time.time()
        async with self._write() as conn:
            row = (
                await conn.execute(select(room_told).where(room_told.c.who == who, room_told.c.topic == topic))
            ).first()
            if row is not None and now - row.told_at < every:
                return False
            await self._upsert(
                conn, room_told, {"who": who, "topic": topic, "told_at": now}, ("who", "topic"), ("told_at",)
            )
        return True
