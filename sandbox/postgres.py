"""A throwaway PostgreSQL server on 127.0.0.1 for tests, benches and CI.

``initdb`` into a temporary folder, a free loopback port, the unix socket in that folder,
``fsync`` off (the data is thrown away), trust authentication for the one local user; the
server and its folder are gone after ``stop``. PostgreSQL refuses to run as root, so under
root the server runs as the ``postgres`` system user (or ``nobody``) in a folder of its own
under the system temporary folder (a root-only pytest folder is out of its reach).

    url, stop = start(tmp)            # "postgresql+asyncpg://pluto@127.0.0.1:PORT/pluto"
    with running(tmp) as url: ...
    python -m sandbox.postgres                    # runs until Ctrl-C, prints the URL
    python -m sandbox.postgres start --dir DIR    # prints the URL, leaves it running (CI)
    python -m sandbox.postgres stop --dir DIR

Only the server binaries are needed (``initdb``, ``pg_ctl``, ``postgres``, ``psql``), not a
Python driver: databases are made with ``psql``.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

USER = "pluto"  # the server's superuser, and its first database
INSTALL_HINT = (
    "install Debian's PostgreSQL server (apt-get install postgresql-15), "
    "or put the folder holding initdb, pg_ctl and postgres in PG_BIN"
)
_STATE = "server.json"  # in the --dir of `start`, read by `stop`
_SOCKET_LIMIT = 90  # a unix socket path must fit in 107 bytes, ".s.PGSQL.NNNNN" included


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries here, or the server would not start."""


@dataclass
class Server:
    """A started server: what ``stop`` needs to end it and clean up."""

    url: str
    bin_dir: str
    data: str
    folder: str  # removed at stop (holds the data, the socket and the log)
    uid: int | None  # the user it runs as when we are root, else None

    def stop(self) -> None:
        """Stop the server at once (its data is thrown away) and remove its folder; safe twice."""
        if Path(self.data, "postmaster.pid").exists():
            user, group = _as_user(self.uid)
            subprocess.run(
                [str(Path(self.bin_dir, "pg_ctl")), "stop", "-D", self.data, "-m", "immediate", "-w", "-t", "30"],
                check=False,
                capture_output=True,
                user=user,
                group=group,
            )
        shutil.rmtree(self.folder, ignore_errors=True)


def bin_dir() -> Path:
    """The folder of the PostgreSQL server binaries: ``PG_BIN``, then the ``PATH``, then
    Debian's /usr/lib/postgresql/<version>/bin (newest first); raises ``PostgresUnavailable``
    naming what to install."""
    candidates: list[Path] = []
    if os.environ.get("PG_BIN"):
        candidates.append(Path(os.environ["PG_BIN"]))
    if found := shutil.which("initdb"):
        candidates.append(Path(os.path.realpath(found)).parent)
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: _version(Path(p).parent.name))
    candidates.extend(Path(p) for p in reversed(versions))
    for folder in candidates:
        if all((folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise PostgresUnavailable(f"PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: {INSTALL_HINT}")


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _psql(folder: Path) -> str:
    """psql beside the server binaries (Debian's /usr/bin/psql is a wrapper), else on PATH."""
    if (folder / "psql").is_file():
        return str(folder / "psql")
    if found := shutil.which("psql"):
        return found
    raise PostgresUnavailable(f"psql not found: {INSTALL_HINT}")


def _server_user() -> int | None:
    """The unprivileged user to run the server as when we are root (PostgreSQL refuses
    root), else None (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name).pw_uid
    raise PostgresUnavailable("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as")


def _as_user(uid: int | None) -> tuple[int | None, int | None]:
    """The (user, group) subprocess arguments that run a command as ``uid`` (as ourselves when None)."""
    if uid is None:
        return None, None
    return uid, pwd.getpwuid(uid).pw_gid


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _folder(tmpdir: str | Path, uid: int | None) -> Path:
    """A new folder for one server: in ``tmpdir`` when we run it as ourselves and the
    socket path stays short, else under the system temporary folder (owned by ``uid``)."""
    parent: str | None = str(tmpdir)
    if uid is not None or len(str(Path(tmpdir).resolve())) > _SOCKET_LIMIT - 30:
        parent = None
    folder = Path(tempfile.mkdtemp(prefix="pluto-pg-", dir=parent))
    if uid is not None:
        os.chown(folder, uid, pwd.getpwuid(uid).pw_gid)
    return folder


def start(tmpdir: str | Path) -> tuple[str, Callable[[], None]]:
    """Start a fresh server; returns its URL (``postgresql+asyncpg://``, database ``pluto``)
    and the function that stops it and removes its files."""
    server = launch(tmpdir)
    return server.url, server.stop


def launch(tmpdir: str | Path) -> Server:
    """Start a fresh server and return it (``start`` for callers that need only the URL)."""
    folder_bin = bin_dir()
    uid = _server_user()
    folder = _folder(tmpdir, uid)
    data = folder / "data"
    as_user = _as_user(uid)
    try:
        initdb = subprocess.run(
            [str(folder_bin / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8",
             "--locale=C", "--no-sync"],
            capture_output=True, text=True, check=False, user=as_user[0], group=as_user[1],
        )  # fmt: skip
        if initdb.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {initdb.stderr.strip() or initdb.stdout.strip()}")
        port = _start_server(folder_bin, folder, data, as_user)
        url = f"postgresql+asyncpg://{USER}@127.0.0.1:{port}/{USER}"
        server = Server(url=url, bin_dir=str(folder_bin), data=str(data), folder=str(folder), uid=uid)
        try:
            _run_sql(url, f'CREATE DATABASE "{USER}"', database="postgres")
        except BaseException:
            server.stop()
            raise
        return server
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _start_server(folder_bin: Path, folder: Path, data: Path, as_user: tuple[int | None, int | None]) -> int:
    """Start the server on a free port (another on a lost race for it); returns the port."""
    log = folder / "server.log"
    for _ in range(3):
        port = _free_port()
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1", f"-p {port}", f"-k {folder}",
                # Thrown-away data: no waiting on the disk.
                "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
                # Tests run several bridges and pools at once.
                "-c max_connections=300",
            ]
        )  # fmt: skip
        started = subprocess.run(
            [str(folder_bin / "pg_ctl"), "start", "-D", str(data), "-l", str(log), "-w", "-t", "120", "-o", options],
            capture_output=True, text=True, check=False, user=as_user[0], group=as_user[1],
        )  # fmt: skip
        if started.returncode == 0:
            return port
        text = log.read_text(errors="replace") if log.exists() else started.stderr
        if "already in use" not in text:
            raise PostgresUnavailable(f"PostgreSQL did not start: {text.strip()[-2000:]}")
    raise PostgresUnavailable(f"PostgreSQL found no free port: {text.strip()[-2000:]}")


def _run_sql(url: str, sql: str, database: str | None = None) -> str:
    """Run ``sql`` (one statement, outside a transaction) on the server of ``url``, in its
    database or in ``database``; returns what it selected, unaligned (fields split by \x1f)."""
    parts = urlsplit(url)
    command = [
        _psql(bin_dir()), "-X", "-q", "-A", "-t", "-F", "\x1f", "-v", "ON_ERROR_STOP=1",
        "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432), "-U", parts.username or USER,
        "-d", database or parts.path.lstrip("/") or USER, "-c", sql,
    ]  # fmt: skip
    env = {**os.environ, "PGPASSWORD": parts.password or "", "PGCONNECT_TIMEOUT": "30"}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise PostgresUnavailable(f"{sql!r} failed: {done.stderr.strip()}")
    return done.stdout


def query(url: str, sql: str) -> list[tuple[str, ...]]:
    """The rows ``sql`` selects in the database of ``url``, each field as text (NULL as "";
    a field must hold no newline)."""
    return [tuple(line.split("\x1f")) for line in _run_sql(url, sql).splitlines()]


def with_database(url: str, name: str) -> str:
    """``url`` pointing at the database ``name`` of the same server."""
    parts = urlsplit(url)
    return parts._replace(path=f"/{name}").geturl()


def create_database(url: str, name: str, template: str | None = None) -> str:
    """Create the database ``name`` (a copy of ``template`` when given) on the server of
    ``url``; returns its URL. A template must have no open connection."""
    clause = f' TEMPLATE "{template}"' if template else ""
    _run_sql(url, f'CREATE DATABASE "{name}"{clause}')
    return with_database(url, name)


def drop_database(url: str, name: str) -> None:
    """Drop the database ``name`` of the server of ``url``, closing its open connections."""
    _run_sql(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def running(tmpdir: str | Path) -> Iterator[str]:
    """A server for the duration of the block; yields its URL."""
    url, stop = start(tmpdir)
    try:
        yield url
    finally:
        stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m sandbox.postgres [start|stop|run] [--dir DIR]``: see the module's docstring."""
    parser = argparse.ArgumentParser(description="A throwaway PostgreSQL server on 127.0.0.1.")
    parser.add_argument("action", nargs="?", choices=["run", "start", "stop"], default="run")
    parser.add_argument("--dir", default=None, help="folder for the server (start/stop: where its state is kept)")
    args = parser.parse_args(argv)
    folder = Path(args.dir) if args.dir else Path(tempfile.gettempdir())
    try:
        if args.action == "stop":
            state = folder / _STATE
            if not state.exists():
                print(f"no server recorded in {state}", file=sys.stderr)
                return 1
            Server(**json.loads(state.read_text())).stop()
            state.unlink()
            return 0
        server = launch(folder)
    except PostgresUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(server.url, flush=True)
    if args.action == "start":
        (folder / _STATE).write_text(json.dumps(asdict(server)))
        return 0
    stopping = False

    def _stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        while not stopping:
            time.sleep(0.2)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
