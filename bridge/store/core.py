"""What every table group of the store shares: the engine, the token cipher, this
process's write queue, and the statements that know a dialect (``_insert``, ``_upsert``).

SQLAlchemy 2 Core over an async engine: aiosqlite (one file, WAL) by default; the same
statements run on PostgreSQL (asyncpg) by changing ``store.url``. Upserts go through
``_upsert``, the one place that knows a dialect.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bridge.store.crypto import TokenCipher
from bridge.store.marks import Marks


def _now() -> int:
    return int(time.time())


def chunks(values: Sequence[int], size: int = 500) -> list[Sequence[int]]:
    """Slices short enough for one IN list on every database (SQLite's old limit: 999)."""
    return [values[i : i + size] for i in range(0, len(values), size)]


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


class StoreCore:
    """The engine, cipher and write queue the table groups share (one of each per store)."""

    def __init__(self, engine: AsyncEngine, cipher: TokenCipher) -> None:
        self.engine = engine
        self.cipher = cipher
        # SQLite has one writer; a transaction that read first cannot take the write lock
        # while another commits (SQLITE_BUSY, busy_timeout does not help). Writers of this
        # process queue here instead. PostgreSQL needs no such lock.
        self._write_queue = WriteQueue() if engine.dialect.name == "sqlite" else None
        self._marks: Marks | None = None  # the dispatcher's marks in one step (SQLite files, PostgreSQL)
        self.replica_id: str | None = None  # this process among replicas (bridge.leases), set at start
        # Built upserts by (table, keys, columns updated): building one (its ``excluded``
        # alias above all) cost more than running it on SQLite; a statement is reusable.
        self._upserts: dict[tuple[str, tuple[str, ...], tuple[str, ...]], Any] = {}

    @contextlib.asynccontextmanager
    async def _write(self, *, urgent: bool = False) -> AsyncIterator[AsyncConnection]:
        """A write transaction (queued behind this process's other writers on SQLite, or
        ahead of the ordinary ones when ``urgent``)."""
        turn = self._write_queue.hold(urgent) if self._write_queue is not None else contextlib.nullcontext()
        async with turn, self.engine.begin() as conn:
            yield conn

    def _mark_turn(self) -> contextlib.AbstractAsyncContextManager[None]:
        """The write turn a mark written through ``_marks`` takes (urgent; none on PostgreSQL)."""
        return self._write_queue.hold(urgent=True) if self._write_queue is not None else contextlib.nullcontext()

    async def _rows(self, query: Any) -> Sequence[Any]:
        """Every row ``query`` selects (a read outside any write transaction)."""
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).all()

    async def _first(self, query: Any) -> Any | None:
        """The first row ``query`` selects, or None."""
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).first()

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
        cols = tuple(update_cols)
        shape = (table.name, tuple(keys), cols)
        stmt = self._upserts.get(shape)
        if stmt is None:
            stmt = self._insert(table)
            if cols:
                stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in cols})
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
            self._upserts[shape] = stmt
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
        stmt = self._insert(table).on_conflict_do_nothing(index_elements=list(keys))
        if self.engine.dialect.name == "postgresql":
            # asyncpg's executemany reports no row count: each inserted row answers instead
            # (SQLAlchemy sends the rows as multi-row VALUES, one statement per thousand).
            returned = await conn.execute(stmt.returning(*(table.c[k] for k in keys)), list(rows))
            return len(returned.all())
        # One statement, compiled once, executed for every row (executemany): the row count
        # is the number inserted, conflicts left out.
        result = await conn.execute(stmt, list(rows))
        return max(result.rowcount, 0)
