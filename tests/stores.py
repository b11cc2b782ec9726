"""The stores tests run on: a SQLite file in the test's folder, or a fresh database on a
PostgreSQL server (the one CI started, named by ``PLUTO_TEST_POSTGRES_URL``, else one started
here for the session by ``sandbox.postgres``).

A test that asks for the ``store_url`` fixture runs once per store chosen with
``--store=sqlite|postgresql|both`` (or ``PLUTO_TEST_STORE``); its PostgreSQL run is marked
``postgres`` (``-m postgres`` selects them). End-to-end tests take ``bridge_store_url``,
SQLite unless the test is marked ``postgres`` (a representative subset: they cost minutes).
Each PostgreSQL test gets its own database, copied from a template migrated once per
session (CREATE DATABASE ... TEMPLATE is fast).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from sandbox import postgres

POSTGRES_URL_ENV = "PLUTO_TEST_POSTGRES_URL"
STORE_ENV = "PLUTO_TEST_STORE"
STORES = ("sqlite", "postgresql")


def chosen_stores(option: str) -> list[str]:
    """The stores of ``--store`` (sqlite, postgresql or both)."""
    return list(STORES) if option == "both" else [option]


def sqlite_url(folder: Path) -> str:
    """The store URL of the SQLite file the e2e harness and the tests read (bridge.sqlite3)."""
    return f"sqlite+aiosqlite:///{folder / 'bridge.sqlite3'}"


async def _migrate(url: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from bridge.store import migrate

    engine = create_async_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


class PostgresDatabases:
    """One PostgreSQL server for this test session and a migrated template; hands each
    test a fresh database. Started on first use, so SQLite-only runs never start one."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._server_url: str | None = None
        self._stop: Callable[[], None] | None = None
        self._template: str | None = None
        self._failed: str | None = None
        self._tag = uuid.uuid4().hex[:8]  # several sessions (xdist workers) may share a server
        self._numbers = itertools.count(1)

    def _ready(self) -> str:
        if self._failed is not None:
            raise postgres.PostgresUnavailable(self._failed)
        if self._server_url is None:
            try:
                if os.environ.get(POSTGRES_URL_ENV):
                    self._server_url = os.environ[POSTGRES_URL_ENV]
                else:
                    self._server_url, self._stop = postgres.start(self._folder)
                template = f"tmpl_{self._tag}"
                url = postgres.create_database(self._server_url, template)
                asyncio.run(_migrate(url))  # at fixture set-up: no event loop is running yet
                self._template = template
            except postgres.PostgresUnavailable as exc:
                self._failed = str(exc)
                raise
        return self._server_url

    def fresh(self) -> tuple[str, str]:
        """A new migrated database: (its URL, its name)."""
        server = self._ready()
        name = f"t_{self._tag}_{next(self._numbers)}"
        return postgres.create_database(server, name, template=self._template), name

    def drop(self, name: str) -> None:
        """Drop a test's database (its connections closed)."""
        if self._server_url is not None:
            postgres.drop_database(self._server_url, name)

    def close(self) -> None:
        """Drop the template; stop the server if this session started it."""
        if self._server_url is not None and self._template is not None and self._stop is None:
            postgres.drop_database(self._server_url, self._template)
        if self._stop is not None:
            self._stop()


def store_for(request: pytest.FixtureRequest, kind: str, folder: Path) -> Iterator[str]:
    """The URL of a store of ``kind`` for one test (a PostgreSQL database dropped after it);
    skips, saying why, when PostgreSQL is not to be had, unless ``--store=postgresql``."""
    if kind == "sqlite":
        yield sqlite_url(folder)
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    try:
        url, name = databases.fresh()
    except postgres.PostgresUnavailable as exc:
        if request.config.getoption("store") == "postgresql":
            raise
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    try:
        yield url
    finally:
        databases.drop(name)


def rows(url: str, sql: str) -> list[tuple[str, ...]]:
    """What ``sql`` selects in the store at ``url``, as text (NULL as ""), read the way an
    operator would from outside the bridge process while it runs: with sqlite3 or psql."""
    if make_url(url).get_backend_name() == "sqlite":
        with sqlite3.connect(make_url(url).database or "") as conn:
            return [tuple("" if v is None else str(v) for v in row) for row in conn.execute(sql)]
    return [tuple(row) for row in postgres.query(url, sql)]
