"""The SQLite store's files hold tokens and message text: owner-only (issue 13, item 6)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from bridge.model import ChatIdentity, Platform
from bridge.store.store import Store
from tests.e2e.harness import SECRET_KEY


def modes(folder: Path) -> dict[str, str]:
    """Each store file in ``folder`` and its permission bits."""
    return {f.name: oct(stat.S_IMODE(f.stat().st_mode)) for f in sorted(folder.glob("bridge.sqlite3*"))}


def readable_file(path: Path) -> None:
    path.touch(mode=0o644)
    path.chmod(0o644)


async def test_database_wal_and_shm_are_created_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask, which leaves files world-readable
    try:
        store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bridge.sqlite3'}", SECRET_KEY)
        try:
            identity = ChatIdentity(Platform.TELEGRAM, "", "111")
            await store.save_link(
                identity, lms_user_id=3, lms_username="u", lms_fullname="U", token="t" * 32, room=None, address=None
            )
            files = ("bridge.sqlite3", "bridge.sqlite3-shm", "bridge.sqlite3-wal")
            assert modes(tmp_path) == {name: "0o600" for name in files}
        finally:
            await store.close()
    finally:
        os.umask(old)


async def test_an_existing_readable_database_is_closed_down(tmp_path: Path) -> None:
    path = tmp_path / "bridge.sqlite3"
    readable_file(path)
    store = await Store.open(f"sqlite+aiosqlite:///{path}", SECRET_KEY)
    await store.close()
    assert modes(tmp_path) == {"bridge.sqlite3": "0o600"}
