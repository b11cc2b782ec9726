"""The store: one facade over the table groups, sharing one engine and one write queue.

Each table group is a module of its own (``links``, ``codes``, ``cursors``, ``outbox``,
``items``, ``threads``, ``events``, ``prefs``, ``rooms``, ``leases``, ``mutes``); ``Store`` composes them,
so callers see one object with every query. ``api_jobs``, ``operations`` and ``push_devices`` work on a
``Store`` from outside (queries off the hot path).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import create_async_engine

from bridge.store import migrate
from bridge.store.codes import CodeStore
from bridge.store.crypto import TokenCipher
from bridge.store.cursors import CursorStore
from bridge.store.events import EventStore
from bridge.store.items import ItemStore
from bridge.store.leases import LeaseStore
from bridge.store.links import LinkStore
from bridge.store.marks import PostgresMarks, SqliteMarks
from bridge.store.mutes import MuteStore
from bridge.store.outbox import OutboxStore
from bridge.store.prefs import PrefStore
from bridge.store.reach import StoreUnavailable, connect_args, reach, require_driver
from bridge.store.rooms import RoomStore
from bridge.store.threads import ThreadStore


class Store(
    LinkStore,
    CodeStore,
    CursorStore,
    OutboxStore,
    ItemStore,
    ThreadStore,
    EventStore,
    PrefStore,
    RoomStore,
    LeaseStore,
    MuteStore,
):
    """All reads and writes of the bridge's state."""

    @classmethod
    async def open(cls, url: str, token_key: str) -> Store:
        """Connect, apply migrations, and return a ready store; ``StoreUnavailable`` when
        the driver is not installed or the database does not answer."""
        require_driver(url)
        # hide_parameters: SQL errors and echo never show values (tokens, codes, message text).
        engine = create_async_engine(url, hide_parameters=True, connect_args=connect_args(url))
        if engine.dialect.name == "sqlite":
            await asyncio.to_thread(_private_sqlite_files, engine.url.database)
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        try:
            await reach(engine)
        except StoreUnavailable:
            await engine.dispose()
            raise
        await migrate.upgrade(engine)
        store = cls(engine, TokenCipher(token_key))
        database = engine.url.database
        if engine.dialect.name == "sqlite" and database and database != ":memory:" and not database.startswith("file:"):
            store._marks = SqliteMarks(database)
        elif engine.dialect.name == "postgresql":
            store._marks = PostgresMarks(engine)
        return store

    async def close(self) -> None:
        if self._marks is not None:
            await self._marks.close()
        await self.engine.dispose()


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
