"""Applies the versioned Alembic migrations at start, on the store's own connection.

A store already at ``HEAD`` (every start but the first, and every start after an upgrade
has run once) is recognised by its ``alembic_version`` row alone: Alembic is then not even
imported, which was a tenth of a start's CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest script in migrations/versions (tests/core/test_store_backends.py checks it):
# a new migration changes this line too.
HEAD = "0015_group_mutes"


def _config(connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


# Any constant shared by every process of this program: the key of the lock migrations take.
_MIGRATION_LOCK = 0x706C75746F  # "pluto"


def _at_head(connection: Connection) -> bool:
    """The schema is this version's: its one ``alembic_version`` row names ``HEAD``."""
    if not inspect(connection).has_table("alembic_version"):
        return False
    return list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars()) == [HEAD]


def upgrade_connection(connection: Connection, revision: str = "head") -> None:
    """Run the migrations up to ``revision`` on a synchronous connection, in its transaction."""
    from alembic import command

    command.upgrade(_config(connection), revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database schema to ``revision`` (idempotent). On PostgreSQL, replicas
    starting together take turns (a transaction-scoped advisory lock): the first migrates,
    the others then find the schema current. SQLite migrates in one write transaction."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        if revision == "head" and await conn.run_sync(_at_head):
            return
        await conn.run_sync(upgrade_connection, revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
