"""Can the store be opened: is its database driver installed, does its server answer?

Both are said in one line naming the fix (the extra to install, the database and what it
answered), never a traceback, and never with the URL's password.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

# The install extra that brings each database's driver (SQLite's comes with the bridge).
EXTRAS = {"postgresql": "postgres"}
NAMES = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}


class StoreUnavailable(Exception):
    """The store cannot be opened; ``code`` is the process exit code (2: the installation
    lacks the driver, 1: the database did not answer)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def connect_args(url: str) -> dict[str, object]:
    """The driver's connection options: a server that does not answer is said after 15 s
    (asyncpg waits 60 by default)."""
    return {"timeout": 15} if make_url(url).get_backend_name() == "postgresql" else {}


def describe(url: str) -> str:
    """The database of ``url`` for messages: kind, host, port and name, no password."""
    parsed = make_url(url)
    name = NAMES.get(parsed.get_backend_name(), parsed.get_backend_name())
    if parsed.get_backend_name() == "sqlite":
        return f"{name} {parsed.database}"
    return f"{name} {parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


def require_driver(url: str) -> None:
    """Raise ``StoreUnavailable`` (code 2) naming the extra to install when the driver
    ``url`` names is not importable."""
    parsed = make_url(url)
    try:
        parsed.get_dialect().import_dbapi()
    except ImportError as exc:
        backend = parsed.get_backend_name()
        extra = EXTRAS.get(backend)
        fix = f'pip install "pluto-bridge[{extra}]"' if extra else f"install the {parsed.get_driver_name()} driver"
        raise StoreUnavailable(
            f"store.url names {NAMES.get(backend, backend)} but its driver is not installed "
            f"(no module {(exc.name or parsed.get_driver_name())!r}): {fix}",
            2,
        ) from None


async def reach(engine: AsyncEngine) -> None:
    """Connect once; ``StoreUnavailable`` (code 1) naming the database and its answer when
    it cannot be reached (down, wrong address, credentials or database name)."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (OSError, TimeoutError, DBAPIError) as exc:
        reason = str(exc.orig) if isinstance(exc, DBAPIError) else str(exc) or type(exc).__name__
        where = describe(engine.url.render_as_string(hide_password=True))
        raise StoreUnavailable(f"store unreachable: {where}: {reason.strip()}", 1) from None
