"""One process per SQLite file: an OS lock on a file beside the database.

Two bridges on one store would both deliver every message (and both poll the chat
platforms). ``fcntl.flock`` is released by the kernel when the process ends, however it
ends (SIGKILL included), so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sqlalchemy.engine import make_url


class StoreInUse(Exception):
    """Another process holds the store's lock."""


class StoreLock:
    """Held for the life of the process that took it (released by ``release`` or at exit)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @classmethod
    def for_url(cls, url: str) -> StoreLock | None:
        """The lock for a SQLite file store; None for other databases (a server arbitrates)
        and for an in-memory SQLite database (private to its process)."""
        parsed = make_url(url)
        if not parsed.get_backend_name() == "sqlite" or parsed.database in (None, "", ":memory:"):
            return None
        return cls(Path(parsed.database + ".lock").resolve())

    def acquire(self) -> None:
        """Take the lock now or raise ``StoreInUse`` naming the file (never waits)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreInUse(
                f"another pluto-bridge process is using the store {self.path.with_suffix('')} "
                f"(lock {self.path}); stop it first, one process per store file"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # for a person looking: who holds it
        self._fd = fd

    def release(self) -> None:
        """Let the next process in; safe twice."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
