"""Persistence for links, codes, cursors, the outbox and the message map.

SQLAlchemy 2 Core over an async engine: aiosqlite (one file, WAL) by default; the same
statements run on PostgreSQL (asyncpg) by changing ``store.url``. Upserts go through
``_upsert``, the one place that knows a dialect.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import os
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, event, func, insert, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bridge.model import ChatIdentity, Platform
from bridge.store import migrate
from bridge.store.crypto import TokenCipher
from bridge.store.records import ConversationInfo, Cursor, Delivery, ItemRow, Link, MapEntry, NewDelivery
from bridge.store.schema import (
    contacts,
    conversation_threads,
    conversations,
    cursors,
    items,
    link_codes,
    links,
    message_map,
    outbox,
    preferences,
    processed_events,
)


def _now() -> int:
    return int(time.time())


class WriteQueue:
    """This process's writers, one at a time; an urgent writer (a delivery's "sending" and
    "sent" marks) goes before every ordinary one still waiting, so the window between a
    platform's answer and its record never includes a queue of intake writes."""

    def __init__(self) -> None:
        self._busy = False
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @contextlib.asynccontextmanager
    async def hold(self, urgent: bool = False) -> AsyncIterator[None]:
        """Hold the write turn for the duration of the block."""
        if self._busy:
            turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiting, (0 if urgent else 1, next(self._order), turn))
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    self._hand_over()  # the turn came with the cancellation: pass it on
                raise
        self._busy = True
        try:
            yield
        finally:
            self._hand_over()

    def _hand_over(self) -> None:
        while self._waiting:
            _, _, turn = heapq.heappop(self._waiting)
            if not turn.done():
                turn.set_result(None)  # still busy: the turn passes straight to this waiter
                return
        self._busy = False


def _identity_clause(identity: ChatIdentity) -> Any:
    return and_(
        links.c.platform == identity.platform.value,
        links.c.workspace == identity.workspace,
        links.c.chat_user_id == identity.user_id,
    )


class Store:
    """All reads and writes of the bridge's state."""

    def __init__(self, engine: AsyncEngine, cipher: TokenCipher) -> None:
        self.engine = engine
        self.cipher = cipher
        # SQLite has one writer; a transaction that read first cannot take the write lock
        # while another commits (SQLITE_BUSY, busy_timeout does not help). Writers of this
        # process queue here instead. PostgreSQL needs no such lock.
        self._write_queue = WriteQueue() if engine.dialect.name == "sqlite" else None

    @contextlib.asynccontextmanager
    async def _write(self, *, urgent: bool = False) -> AsyncIterator[AsyncConnection]:
        """A write transaction (queued behind this process's other writers on SQLite, or
        ahead of the ordinary ones when ``urgent``)."""
        turn = self._write_queue.hold(urgent) if self._write_queue is not None else contextlib.nullcontext()
        async with turn, self.engine.begin() as conn:
            yield conn

    @classmethod
    async def open(cls, url: str, token_key: str) -> Store:
        """Connect, apply migrations, and return a ready store."""
        # hide_parameters: SQL errors and echo never show values (tokens, codes, message text).
        engine = create_async_engine(url, hide_parameters=True)
        if engine.dialect.name == "sqlite":
            await asyncio.to_thread(_private_sqlite_files, engine.url.database)
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        await migrate.upgrade(engine)
        return cls(engine, TokenCipher(token_key))

    async def close(self) -> None:
        await self.engine.dispose()

    def _insert(self, table: Any) -> Any:
        """An INSERT in this database's dialect (both have ON CONFLICT)."""
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
        return dialect_insert(table)

    async def _upsert(
        self,
        conn: AsyncConnection,
        table: Any,
        values: dict[str, Any],
        keys: Sequence[str],
        update_cols: Iterable[str],
    ) -> None:
        stmt = self._insert(table)
        cols = list(update_cols)
        if cols:
            stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in cols})
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
        # Values as parameters, not in the statement: its compiled form is cached and reused.
        await conn.execute(stmt, values)

    async def _insert_new(self, conn: AsyncConnection, table: Any, values: dict[str, Any], keys: Sequence[str]) -> bool:
        """Insert unless the key exists; True when this call inserted the row."""
        return bool(await self._insert_new_rows(conn, table, [values], keys))

    async def _insert_new_rows(
        self, conn: AsyncConnection, table: Any, rows: Sequence[dict[str, Any]], keys: Sequence[str]
    ) -> int:
        """Insert the rows whose key does not exist yet, in one round trip (a statement per
        row made intake slow); returns how many went in."""
        if not rows:
            return 0
        # One statement, compiled once, executed for every row (executemany): the row count
        # is the number inserted, conflicts left out.
        result = await conn.execute(self._insert(table).on_conflict_do_nothing(index_elements=list(keys)), list(rows))
        return max(result.rowcount, 0)

    # --- links --------------------------------------------------------------------------

    def _link(self, row: Any) -> Link:
        return Link(
            id=row.id,
            identity=ChatIdentity(Platform(row.platform), row.workspace, row.chat_user_id),
            lms_user_id=row.lms_user_id,
            lms_username=row.lms_username,
            lms_fullname=row.lms_fullname,
            status=row.status,
            status_reason=row.status_reason,
            room=row.room,
            address=row.address,
            current_conversation_id=row.current_conversation_id,
            current_peer_id=row.current_peer_id,
            created_at=row.created_at,
            token=self.cipher.decrypt(row.token_enc),
            origin=row.origin or "",
        )

    async def link_for(self, identity: ChatIdentity) -> Link | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(links).where(_identity_clause(identity)))).first()
        return self._link(row) if row else None

    async def link_by_id(self, link_id: int) -> Link | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(links).where(links.c.id == link_id))).first()
        return self._link(row) if row else None

    async def links_of_user(self, lms_user_id: int, *, active_only: bool = True) -> list[Link]:
        query = select(links).where(links.c.lms_user_id == lms_user_id)
        if active_only:
            query = query.where(links.c.status == "active")
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(links.c.id))).all()
        return [self._link(r) for r in rows]

    async def active_links(self) -> list[Link]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(links).where(links.c.status == "active").order_by(links.c.id))).all()
        return [self._link(r) for r in rows]

    async def all_links(self) -> list[Link]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(links).order_by(links.c.id))).all()
        return [self._link(r) for r in rows]

    async def save_link(
        self,
        identity: ChatIdentity,
        *,
        lms_user_id: int,
        lms_username: str,
        lms_fullname: str,
        token: str,
        room: str | None,
        address: dict[str, Any] | None,
        origin: str = "",
    ) -> Link:
        """Create or replace the link of ``identity`` (a new sign-in replaces the old token).
        ``origin`` says how and from where it was made (shown by ``link list``)."""
        now = _now()
        values = {
            "platform": identity.platform.value,
            "workspace": identity.workspace,
            "chat_user_id": identity.user_id,
            "lms_user_id": lms_user_id,
            "lms_username": lms_username,
            "lms_fullname": lms_fullname,
            "token_enc": self.cipher.encrypt(token),
            "status": "active",
            "status_reason": "",
            "room": room,
            "address": address,
            "created_at": now,
            "updated_at": now,
            "origin": origin,
        }
        async with self._write() as conn:
            existing = (
                await conn.execute(select(links.c.id, links.c.lms_user_id).where(_identity_clause(identity)))
            ).first()
            if existing is None:
                await conn.execute(insert(links).values(**values))
            else:
                changes = dict(values)  # a new sign-in is a new link: its time and origin are now
                if existing.lms_user_id != lms_user_id:
                    changes.update(current_conversation_id=None, current_peer_id=None)
                await conn.execute(update(links).where(links.c.id == existing.id).values(**changes))
        link = await self.link_for(identity)
        assert link is not None
        return link

    async def delete_link(self, identity: ChatIdentity) -> Link | None:
        """Delete the link and its token; pending deliveries to it are dropped."""
        link = await self.link_for(identity)
        if link is None:
            return None
        async with self._write() as conn:
            await conn.execute(delete(links).where(links.c.id == link.id))
            await conn.execute(
                update(outbox)
                .where(outbox.c.link_id == link.id, outbox.c.status == "pending")
                .values(status="dead", last_error="unlinked")
            )
        return link

    async def set_link_status(self, link_id: int, status: str, reason: str = "") -> bool:
        """Change a link's status; returns True if it changed (so a notice goes out once)."""
        async with self._write() as conn:
            result = await conn.execute(
                update(links)
                .where(links.c.id == link_id, links.c.status != status)
                .values(status=status, status_reason=reason, updated_at=_now())
            )
            if status == "inactive":
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.link_id == link_id, outbox.c.status == "pending")
                    .values(status="dead", last_error=f"recipient unreachable: {reason}")
                )
        return bool(result.rowcount)

    async def set_current(self, link_id: int, conversation_id: int | None, peer_id: int | None) -> None:
        async with self._write() as conn:
            await conn.execute(
                update(links)
                .where(links.c.id == link_id)
                .values(current_conversation_id=conversation_id, current_peer_id=peer_id)
            )

    async def set_link_room(self, link_id: int, room: str) -> None:
        """The adapter opened the person's private chat: keep its id for later sends."""
        async with self._write() as conn:
            await conn.execute(update(links).where(links.c.id == link_id).values(room=room))

    async def set_current_for_lms_user(self, lms_user_id: int, conversation_id: int, peer_id: int | None) -> None:
        """The person last received from this conversation: it becomes their current one."""
        async with self._write() as conn:
            await conn.execute(
                update(links)
                .where(links.c.lms_user_id == lms_user_id)
                .values(current_conversation_id=conversation_id, current_peer_id=peer_id)
            )

    async def remember_contact(
        self, identity: ChatIdentity, display_name: str, room: str | None, address: dict[str, Any] | None
    ) -> bool:
        """Keep how to reach a chat identity; refresh a link's room and address too.
        Returns True the first time this identity makes contact (exactly once, even for
        two events that arrive together)."""
        now = _now()
        values = {
            "platform": identity.platform.value,
            "workspace": identity.workspace,
            "chat_user_id": identity.user_id,
            "display_name": display_name,
            "room": room,
            "address": address,
            "last_seen": now,
        }
        keys = ("platform", "workspace", "chat_user_id")
        async with self._write() as conn:
            # Insert-or-ignore decides "first" atomically; the update then refreshes the row.
            first = await self._insert_new(conn, contacts, values, keys)
            if not first:
                await conn.execute(
                    update(contacts)
                    .where(*(contacts.c[k] == values[k] for k in keys))
                    .values(display_name=display_name, room=room, address=address, last_seen=now)
                )
            changes: dict[str, Any] = {"room": room}
            if address is not None:
                changes["address"] = address
            await conn.execute(update(links).where(_identity_clause(identity)).values(**changes))
        return first

    async def contact(self, identity: ChatIdentity) -> tuple[str | None, dict[str, Any] | None]:
        """The room and address last seen for ``identity``."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(contacts.c.room, contacts.c.address).where(
                        contacts.c.platform == identity.platform.value,
                        contacts.c.workspace == identity.workspace,
                        contacts.c.chat_user_id == identity.user_id,
                    )
                )
            ).first()
        return (row.room, row.address) if row else (None, None)

    # --- link codes ----------------------------------------------------------------------

    async def create_code(self, code: str, ttl: int, **values: Any) -> None:
        """Store a one-time code: for a chat identity awaiting sign-in, or a signed-in
        person awaiting their chat identity (``token`` given)."""
        token = values.pop("token", None)
        if token is not None:
            values["token_enc"] = self.cipher.encrypt(token)
        async with self._write() as conn:
            await conn.execute(insert(link_codes).values(code=code, expires_at=_now() + ttl, failures=0, **values))
            # Expired codes are worthless; clearing them here keeps the table small.
            await conn.execute(delete(link_codes).where(link_codes.c.expires_at < _now() - 86400))

    async def peek_code(self, code: str) -> dict[str, Any] | None:
        """A usable code's row (not expired, not used, not burnt by failures)."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(link_codes).where(
                        link_codes.c.code == code,
                        link_codes.c.used_at.is_(None),
                        link_codes.c.expires_at >= _now(),
                        link_codes.c.failures < 5,
                    )
                )
            ).first()
        if row is None:
            return None
        data = dict(row._mapping)
        if data.get("token_enc"):
            data["token"] = self.cipher.decrypt(data.pop("token_enc"))
        return data

    async def use_code(self, code: str) -> bool:
        """Mark a code used; False if somebody else used it first."""
        async with self._write() as conn:
            result = await conn.execute(
                update(link_codes)
                .where(link_codes.c.code == code, link_codes.c.used_at.is_(None))
                .values(used_at=_now(), token_enc=None)
            )
        return bool(result.rowcount)

    async def code_failed(self, code: str) -> None:
        async with self._write() as conn:
            await conn.execute(
                update(link_codes).where(link_codes.c.code == code).values(failures=link_codes.c.failures + 1)
            )

    # --- intake state ----------------------------------------------------------------------

    async def cursors_of(self, lms_user_id: int) -> dict[str, Cursor]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(cursors).where(cursors.c.lms_user_id == lms_user_id))).all()
        return {r.scope: Cursor(r.watermark, frozenset(r.seen_ids)) for r in rows}

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
    ) -> int:
        """Write the deliveries and the new cursors in one transaction: nothing intake has
        seen is skipped, and nothing is queued twice (unique item per link)."""
        now = _now()
        async with self._write() as conn:
            for row in new_items:
                await self._insert_item(conn, lms_user_id, row)
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
            created = await self._insert_deliveries(conn, deliveries)
            for scope, cursor in cursor_updates.items():
                await self._upsert(
                    conn,
                    cursors,
                    {
                        "lms_user_id": lms_user_id,
                        "scope": scope,
                        "watermark": cursor.watermark,
                        "seen_ids": sorted(cursor.seen_ids),
                        "updated_at": now,
                    },
                    ("lms_user_id", "scope"),
                    ("watermark", "seen_ids", "updated_at"),
                )
        return created

    async def _insert_deliveries(self, conn: AsyncConnection, deliveries: Sequence[NewDelivery]) -> int:
        """Queue deliveries, each (item, link) once; returns how many are new."""
        return await self._insert_new_rows(
            conn,
            outbox,
            [
                {
                    "item_key": d.item_key,
                    "link_id": d.link_id,
                    "platform": d.platform.value,
                    "lane": d.lane,
                    "payload": d.payload,
                    "status": "held" if d.held_until is not None else "pending",
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

    async def enqueue(self, deliveries: Sequence[NewDelivery]) -> int:
        """Queue deliveries that carry no intake cursor (notices, command results)."""
        return await self.commit_intake(0, {}, deliveries)

    # --- outbox ----------------------------------------------------------------------------

    def _delivery(self, row: Any) -> Delivery:
        return Delivery(
            id=row.id,
            item_key=row.item_key,
            link_id=row.link_id,
            platform=Platform(row.platform),
            lane=row.lane,
            payload=row.payload,
            status=row.status,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            last_error=row.last_error,
            refs=list(row.refs or []),
            failing_since=row.failing_since,
            sending_at=row.sending_at,
        )

    async def pending_lanes(self) -> list[tuple[str, str]]:
        """(platform, lane) pairs that have pending deliveries."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(outbox.c.platform, outbox.c.lane).where(outbox.c.status == "pending").distinct()
                )
            ).all()
        return [(r.platform, r.lane) for r in rows]

    async def lane_batch(self, lane: str, limit: int) -> list[Delivery]:
        """The oldest pending deliveries of a lane, in order: lanes are delivered strictly in order."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(outbox)
                    .where(outbox.c.lane == lane, outbox.c.status == "pending")
                    .order_by(outbox.c.id)
                    .limit(limit)
                )
            ).all()
        return [self._delivery(r) for r in rows]

    async def record_part(self, delivery_id: int, refs: list[dict[str, Any]]) -> None:
        """Remember the chunks already acknowledged, so a retry never resends them."""
        async with self._write() as conn:
            # A chunk went through: the platform answers again, a later failure starts a new run.
            await conn.execute(update(outbox).where(outbox.c.id == delivery_id).values(refs=refs, failing_since=None))

    async def mark_sending(self, delivery_id: int) -> None:
        """A send is about to start: after a crash, this delivery is looked for on the
        platform (where it can tell) before it is sent again."""
        async with self._write(urgent=True) as conn:
            await conn.execute(
                update(outbox).where(outbox.c.id == delivery_id).values(status="sending", sending_at=time.time())
            )

    async def requeue(self, delivery_id: int, refs: list[dict[str, Any]] | None = None) -> None:
        """Back to pending (a send found not to have arrived, or partly arrived: ``refs``)."""
        values: dict[str, Any] = {"status": "pending"}
        if refs is not None:
            values["refs"] = refs
        async with self._write() as conn:
            await conn.execute(update(outbox).where(outbox.c.id == delivery_id).values(**values))

    async def mark_sent(self, delivery: Delivery, refs: list[dict[str, Any]], entries: Sequence[MapEntry]) -> None:
        """The platform acknowledged every chunk: record them in the message map (ahead of
        queued ordinary writes: the send is done, only this record is missing)."""
        async with self._write(urgent=True) as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == delivery.id)
                .values(status="sent", refs=refs, sent_at=time.time(), attempts=delivery.attempts + 1)
            )
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
                    },
                    ("platform", "workspace", "room", "remote_id"),
                    (),
                )

    async def reschedule(self, delivery_id: int, *, at: float, error: str, count_attempt: bool) -> None:
        """Try again at ``at``; the first failure of a run starts the give-up clock."""
        values: dict[str, Any] = {
            "status": "pending",
            "next_attempt_at": at,
            "last_error": error,
            "failing_since": func.coalesce(outbox.c.failing_since, time.time()),
        }
        if count_attempt:
            values["attempts"] = outbox.c.attempts + 1
        async with self._write() as conn:
            await conn.execute(update(outbox).where(outbox.c.id == delivery_id).values(**values))

    async def mark_dead(self, delivery_id: int, reason: str) -> None:
        async with self._write() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == delivery_id)
                .values(status="dead", last_error=reason, attempts=outbox.c.attempts + 1)
            )

    async def deliveries(self, *, status: str | None = None, link_id: int | None = None) -> list[Delivery]:
        """Outbox rows, oldest first (operators' view and tests)."""
        query = select(outbox).order_by(outbox.c.id)
        if status is not None:
            query = query.where(outbox.c.status == status)
        if link_id is not None:
            query = query.where(outbox.c.link_id == link_id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [self._delivery(r) for r in rows]

    async def due_held(self, now: float) -> list[Delivery]:
        """Deliveries held for quiet hours whose hold has ended, oldest first."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(outbox).where(outbox.c.status == "held", outbox.c.held_until <= now).order_by(outbox.c.id)
                )
            ).all()
        return [self._delivery(r) for r in rows]

    async def release_held_of(self, lms_user_id: int, at: float) -> None:
        """Quiet hours switched off: what was held goes out in the next digest."""
        async with self._write() as conn:
            ids = select(links.c.id).where(links.c.lms_user_id == lms_user_id)
            await conn.execute(
                update(outbox).where(outbox.c.status == "held", outbox.c.link_id.in_(ids)).values(held_until=at)
            )

    async def mark_digested(self, delivery_ids: Sequence[int], digest_key: str, digests: Sequence[NewDelivery]) -> None:
        """Held deliveries leave the hold and the digests that list them are queued, in one
        transaction: a crash between the two can neither lose nor repeat them."""
        async with self._write() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(list(delivery_ids)))
                .values(status="digested", last_error=f"sent in digest {digest_key}")
            )
            await self._insert_deliveries(conn, digests)

    async def refs_of_item(self, item_key: str) -> list[tuple[Delivery, list[dict[str, Any]]]]:
        """Every sent copy of an item: (delivery, its chunk refs), on every link."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(outbox).where(outbox.c.item_key == item_key, outbox.c.status == "sent").order_by(outbox.c.id)
                )
            ).all()
        return [(self._delivery(r), list(r.refs or [])) for r in rows]

    async def delivery_by_id(self, delivery_id: int) -> Delivery | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(outbox).where(outbox.c.id == delivery_id))).first()
        return self._delivery(row) if row else None

    async def delivery_of(self, item_key: str, link_id: int) -> Delivery | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(outbox).where(outbox.c.item_key == item_key, outbox.c.link_id == link_id))
            ).first()
        return self._delivery(row) if row else None

    async def undelivered_copies(self, item_key: str) -> None:
        """An item handled before its copies went out: they need not go out any more."""
        async with self._write() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.item_key == item_key, outbox.c.status.in_(["pending", "held"]))
                .values(status="dead", last_error="handled before delivery")
            )

    # --- items (alerts, tasks, contact requests) -------------------------------------------

    async def _insert_item(self, conn: AsyncConnection, lms_user_id: int, row: ItemRow) -> None:
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
        await conn.execute(
            insert(items).values(
                lms_user_id=lms_user_id,
                item_key=row.item_key,
                short_id=short + 1,
                kind=row.kind,
                subject=row.subject,
                url=row.url,
                html=row.html,
                created=row.created,
                lms_id=row.lms_id,
                data=row.data,
                status="open",
                outcome="",
            )
        )

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
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(items).where(items.c.lms_user_id == lms_user_id, items.c.item_key == item_key)
                )
            ).first()
        return self._item(row) if row else None

    async def item_by_short(self, lms_user_id: int, short_id: int) -> ItemRow | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(items).where(items.c.lms_user_id == lms_user_id, items.c.short_id == short_id)
                )
            ).first()
        return self._item(row) if row else None

    async def open_items(self, lms_user_id: int) -> list[ItemRow]:
        """Open items, newest first."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(items)
                    .where(items.c.lms_user_id == lms_user_id, items.c.status == "open")
                    .order_by(items.c.created.desc(), items.c.short_id.desc())
                )
            ).all()
        return [self._item(r) for r in rows]

    async def close_item(self, lms_user_id: int, item_key: str, status: str, outcome: str) -> bool:
        """Mark an item handled (or expired); False if it was no longer open."""
        async with self._write() as conn:
            result = await conn.execute(
                update(items)
                .where(items.c.lms_user_id == lms_user_id, items.c.item_key == item_key, items.c.status == "open")
                .values(status=status, outcome=outcome, handled_at=_now())
            )
        return bool(result.rowcount)

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
                .where(outbox.c.item_key == row.item_key, outbox.c.status.in_(["pending", "held"]))
                .values(payload=payload)
            )
            rows = (
                await conn.execute(
                    select(outbox)
                    .where(
                        outbox.c.item_key == row.item_key,
                        outbox.c.status.notin_(["pending", "held", "dead", "digested"]),
                    )
                    .order_by(outbox.c.id)
                )
            ).all()
        return [self._delivery(r) for r in rows]

    async def set_item_lms_id(self, lms_user_id: int, item_key: str, lms_id: int) -> None:
        """Totara gives an item a new id when it is read; keep the current one."""
        async with self._write() as conn:
            await conn.execute(
                update(items)
                .where(items.c.lms_user_id == lms_user_id, items.c.item_key == item_key)
                .values(lms_id=lms_id)
            )

    # --- message map and threads ----------------------------------------------------------

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

    # --- inbound de-duplication ------------------------------------------------------------

    async def journal_event(self, platform: Platform, event_id: str, event: dict[str, Any]) -> bool:
        """Record an inbound event durably, before the platform is acknowledged, as
        "received"; False if it was recorded before (a redelivery: not handled twice)."""
        async with self._write() as conn:
            return await self._insert_new(
                conn,
                processed_events,
                {
                    "platform": platform.value,
                    "event_id": event_id,
                    "processed_at": _now(),
                    "status": "received",
                    "event": event,
                    "received_at": time.time(),
                },
                ("platform", "event_id"),
            )

    async def finish_event(self, platform: Platform, event_id: str, *, keep: bool = False) -> None:
        """Handling finished: the event is not resumed. Its content is dropped (nothing a
        person wrote is kept longer than needed) unless ``keep`` (a question about it is open)."""
        values: dict[str, Any] = {"status": "done", "processed_at": _now()}
        if not keep:
            values["event"] = null()  # SQL NULL, not JSON null
        async with self._write() as conn:
            await conn.execute(
                update(processed_events)
                .where(processed_events.c.platform == platform.value, processed_events.c.event_id == event_id)
                .values(**values)
            )

    async def take_event(self, platform: Platform, event_id: str) -> tuple[dict[str, Any], float] | None:
        """The kept content of a finished event, handed out once (a second take gets None)."""
        where = (
            processed_events.c.platform == platform.value,
            processed_events.c.event_id == event_id,
            processed_events.c.status == "done",
            processed_events.c.event.is_not(None),
        )
        async with self._write() as conn:
            query = select(processed_events.c.event, processed_events.c.received_at).where(*where)
            row = (await conn.execute(query)).first()
            if row is None or row.event is None:
                return None
            await conn.execute(update(processed_events).where(*where).values(event=null()))
        return dict(row.event), float(row.received_at or 0.0)

    async def unfinished_events(self) -> list[tuple[dict[str, Any], float]]:
        """Events recorded but not handled to the end (the process died), oldest first."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(processed_events.c.event, processed_events.c.received_at)
                    .where(processed_events.c.status == "received", processed_events.c.event.is_not(None))
                    .order_by(processed_events.c.received_at)
                )
            ).all()
        return [(dict(r.event), float(r.received_at or 0.0)) for r in rows]

    async def prune(self, *, events_older_than: int = 7 * 86400, sent_older_than: int = 30 * 86400) -> None:
        """Forget old processed-event ids and old sent deliveries."""
        now = _now()
        async with self._write() as conn:
            await conn.execute(
                delete(processed_events).where(processed_events.c.processed_at < now - events_older_than)
            )
            await conn.execute(
                delete(outbox).where(
                    or_(outbox.c.status == "sent", outbox.c.status == "dead"),
                    outbox.c.created_at < now - sent_older_than,
                )
            )

    # --- a poll cycle's reads, for many people in one query each (issue 19) ---------------

    async def cursors_of_users(self, lms_user_ids: Sequence[int]) -> dict[int, dict[str, Cursor]]:
        """``cursors_of`` for many people at once (everyone listed has an entry)."""
        found: dict[int, dict[str, Cursor]] = {uid: {} for uid in lms_user_ids}
        async with self.engine.connect() as conn:
            for chunk in _chunks(lms_user_ids):
                query = select(cursors).where(cursors.c.lms_user_id.in_(chunk))
                for r in (await conn.execute(query)).all():
                    found[r.lms_user_id][r.scope] = Cursor(r.watermark, frozenset(r.seen_ids))
        return found

    async def users_with_cursor(self, lms_user_ids: Sequence[int], scope: str) -> set[int]:
        """Those of these people who have a cursor of ``scope``."""
        found: set[int] = set()
        async with self.engine.connect() as conn:
            for chunk in _chunks(lms_user_ids):
                query = select(cursors.c.lms_user_id).where(cursors.c.lms_user_id.in_(chunk), cursors.c.scope == scope)
                found.update((await conn.execute(query)).scalars())
        return found

    async def open_items_of_users(self, lms_user_ids: Sequence[int]) -> dict[int, list[ItemRow]]:
        """``open_items`` for many people at once (everyone listed has an entry)."""
        found: dict[int, list[ItemRow]] = {uid: [] for uid in lms_user_ids}
        async with self.engine.connect() as conn:
            for chunk in _chunks(lms_user_ids):
                query = (
                    select(items)
                    .where(items.c.lms_user_id.in_(chunk), items.c.status == "open")
                    .order_by(items.c.created.desc(), items.c.short_id.desc())
                )
                for r in (await conn.execute(query)).all():
                    found[r.lms_user_id].append(self._item(r))
        return found

    # --- preferences -------------------------------------------------------------------------

    async def preferences_of(self, lms_user_id: int) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            data = (
                await conn.execute(select(preferences.c.data).where(preferences.c.lms_user_id == lms_user_id))
            ).scalar_one_or_none()
        return dict(data or {})

    async def set_preferences(self, lms_user_id: int, data: dict[str, Any]) -> None:
        async with self._write() as conn:
            await self._upsert(
                conn,
                preferences,
                {"lms_user_id": lms_user_id, "data": data, "updated_at": _now()},
                ("lms_user_id",),
                ("data", "updated_at"),
            )


def _chunks(values: Sequence[int], size: int = 500) -> list[Sequence[int]]:
    """Slices short enough for one IN list on every database (SQLite's old limit: 999)."""
    return [values[i : i + size] for i in range(0, len(values), size)]


def _private_sqlite_files(database: str | None) -> None:
    """The database file holds tokens and message text: owner-only (0600). SQLite creates
    its -wal and -shm files with the database file's mode, so creating that one private
    is enough; files left more open by an older version are closed down too."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    for file in (path, Path(f"{database}-wal"), Path(f"{database}-shm")):
        if file.exists() and file.stat().st_mode & 0o077:
            file.chmod(0o600)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the dispatcher read while intake writes; busy_timeout rides out short locks.
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
