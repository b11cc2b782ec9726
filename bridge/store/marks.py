"""The dispatcher's marks ("sending" before a send; "sent" with the message map after it),
each in one step: on SQLite one hand-off to a thread of its own, on PostgreSQL one statement.

Through SQLAlchemy and aiosqlite one mark took about a dozen hand-offs to aiosqlite's
worker thread (connection check-out, BEGIN, each statement, COMMIT), most of the
dispatcher's time, while SQLite's own work was about 2 % of it. Here the statements of a
mark run together in one call on a plain ``sqlite3`` connection (``SqliteMarks``). The
caller still holds the store's write turn (``WriteQueue``, urgent), so this second writer
never commits between another writer's read and write.

On PostgreSQL, through SQLAlchemy a "sent" mark was BEGIN, the UPDATE, an INSERT per map
row and COMMIT, each a round trip to the server. Here it is one statement in autocommit: the
outbox UPDATE in a data-modifying WITH and the map rows inserted from arrays (``unnest``),
atomic as any single statement is.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bridge.store.records import MapEntry

_SENDING = "UPDATE outbox SET status = 'sending', sending_at = ? WHERE id = ? AND status IN ('pending', 'sending')"
_SENT = "UPDATE outbox SET status = 'sent', refs = ?, sent_at = ?, attempts = ? WHERE id = ?"
_MAPPED = (
    "INSERT INTO message_map (item_key, link_id, lms_user_id, conversation_id, platform, workspace, room,"
    " remote_id, thread, part, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)"
    " ON CONFLICT (platform, workspace, room, remote_id) DO NOTHING"
)


_PG_SENDING = text(
    "UPDATE outbox SET status = 'sending', sending_at = :at WHERE id = :id AND status IN ('pending', 'sending')"
)
_PG_SENT = text(
    "WITH sent AS (UPDATE outbox SET status = 'sent', refs = CAST(:refs AS JSON), sent_at = :at, attempts = :attempts"
    " WHERE id = :id)"
    " INSERT INTO message_map (item_key, link_id, lms_user_id, conversation_id, platform, workspace, room,"
    " remote_id, thread, part, created_at)"
    " SELECT m.*, 0, CAST(:at AS DOUBLE PRECISION) FROM unnest(CAST(:item_keys AS VARCHAR[]),"
    " CAST(:link_ids AS INTEGER[]), CAST(:lms_user_ids AS INTEGER[]), CAST(:conversation_ids AS INTEGER[]),"
    " CAST(:platforms AS VARCHAR[]), CAST(:workspaces AS VARCHAR[]), CAST(:rooms AS VARCHAR[]),"
    " CAST(:remote_ids AS VARCHAR[]), CAST(:threads AS VARCHAR[]))"
    " AS m(item_key, link_id, lms_user_id, conversation_id, platform, workspace, room, remote_id, thread)"
    " ON CONFLICT (platform, workspace, room, remote_id) DO NOTHING"
)


class Marks(Protocol):
    """The dispatcher's marks written in one step (see the module's docstring)."""

    async def sending(self, delivery_id: int, at: float) -> bool: ...

    async def sent(
        self, delivery_id: int, attempts: int, refs: list[dict[str, Any]], entries: Sequence[MapEntry], at: float
    ) -> None: ...

    async def close(self) -> None: ...


class PostgresMarks:
    """The marks as single autocommit statements on the store's own connection pool."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def sending(self, delivery_id: int, at: float) -> bool:
        """Mark a queued delivery "sending"; False when it is no longer queued."""
        async with self._engine.connect() as conn:
            return bool((await conn.execute(_PG_SENDING, {"at": at, "id": delivery_id})).rowcount)

    async def sent(
        self, delivery_id: int, attempts: int, refs: list[dict[str, Any]], entries: Sequence[MapEntry], at: float
    ) -> None:
        """Mark a delivery sent and map its copies, in one statement."""
        columns: dict[str, list[Any]] = {
            "item_keys": [e.item_key for e in entries],
            "link_ids": [e.link_id for e in entries],
            "lms_user_ids": [e.lms_user_id for e in entries],
            "conversation_ids": [e.conversation_id for e in entries],
            "platforms": [e.platform.value for e in entries],
            "workspaces": [e.workspace for e in entries],
            "rooms": [e.room for e in entries],
            "remote_ids": [e.remote_id for e in entries],
            "threads": [e.thread for e in entries],
        }
        values = {"id": delivery_id, "attempts": attempts, "refs": json.dumps(refs), "at": at, **columns}
        async with self._engine.connect() as conn:
            await conn.execute(_PG_SENT, values)

    async def close(self) -> None:
        """Nothing of its own to close: the connections are the store's."""


def _connect(path: str, busy_ms: int) -> sqlite3.Connection:
    # Autocommit; a mark of several statements opens its own transaction.
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA busy_timeout={busy_ms}")
    # Checkpoints (copying the WAL into the file, with an fsync) are left to the store's
    # own connections, so a mark written on the event loop never waits for one.
    conn.execute("PRAGMA wal_autocheckpoint=0")
    return conn


class SqliteMarks:
    """The marks on a plain ``sqlite3`` connection of their own, written on the event loop.

    A mark is one or two statements in WAL mode without an fsync: tens of microseconds,
    less than handing it to a thread and back, which under the GIL cost the dispatcher more
    than SQLite's own work. The loop's connection never waits for a lock (busy timeout 0):
    when another process holds the write lock (a ``pluto-bridge`` command), the mark goes
    to a thread whose connection waits for it, and the loop runs on meanwhile."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._loop_conn: sqlite3.Connection | None = None
        self._conn: sqlite3.Connection | None = None  # the waiting thread's
        self._closed = False
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-marks", initializer=self._connect)

    def _connect(self) -> None:
        self._conn = _connect(self._path, 5000)

    async def _run(self, fn: Any, *args: Any) -> Any:
        """``fn(conn, *args)`` on the loop's connection; on the thread's when the database
        is locked by another process."""
        if self._loop_conn is None:
            self._loop_conn = _connect(self._path, 0)
        try:
            return fn(self._loop_conn, *args)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._on_thread, fn, args)

    def _on_thread(self, fn: Any, args: tuple[Any, ...]) -> Any:
        assert self._conn is not None
        return fn(self._conn, *args)

    async def sending(self, delivery_id: int, at: float) -> bool:
        """Mark a queued delivery "sending"; False when it is no longer queued."""
        return bool(await self._run(_sending, delivery_id, at))

    async def sent(
        self, delivery_id: int, attempts: int, refs: list[dict[str, Any]], entries: Sequence[MapEntry], at: float
    ) -> None:
        """Mark a delivery sent and map its copies, in one transaction."""
        rows = [
            (
                e.item_key, e.link_id, e.lms_user_id, e.conversation_id, e.platform.value, e.workspace,
                e.room, e.remote_id, e.thread, at,
            )
            for e in entries
        ]  # fmt: skip
        await self._run(_sent, delivery_id, attempts, json.dumps(refs), rows, at)

    async def close(self) -> None:
        """Close both connections and end the thread."""
        if self._closed:
            return
        self._closed = True
        if self._loop_conn is not None:
            self._loop_conn.close()
            self._loop_conn = None
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=True)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _sending(conn: sqlite3.Connection, delivery_id: int, at: float) -> int:
    return conn.execute(_SENDING, (at, delivery_id)).rowcount


def _sent(
    conn: sqlite3.Connection, delivery_id: int, attempts: int, refs: str, rows: list[tuple[Any, ...]], at: float
) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_SENT, (refs, at, attempts, delivery_id))
        if rows:
            conn.executemany(_MAPPED, rows)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
