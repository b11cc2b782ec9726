"""sandbox.postgres: a throwaway PostgreSQL server that starts, answers and leaves nothing behind."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from sandbox import postgres


def _accepts(url: str) -> bool:
    parts = urlsplit(url)
    with socket.socket() as sock:
        return sock.connect_ex((parts.hostname or "", parts.port or 0)) == 0


def _answer(url: str, sql: str) -> str:
    parts = urlsplit(url)
    done = subprocess.run(
        [postgres._psql(postgres.bin_dir()), "-X", "-A", "-t", "-h", parts.hostname or "", "-p", str(parts.port),
         "-U", parts.username or "", "-d", parts.path.lstrip("/"), "-c", sql],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_a_server_answers_on_loopback_and_is_gone_after_the_block(tmp_path: Path) -> None:
    try:
        with postgres.running(tmp_path) as url:
            assert urlsplit(url).hostname == "127.0.0.1"
            assert _answer(url, "SHOW fsync") == "off"
            copy = postgres.create_database(url, "copy")
            assert _answer(copy, "SELECT current_database()") == "copy"
            postgres.drop_database(url, "copy")
    except postgres.PostgresUnavailable as exc:
        pytest.skip(str(exc))
    assert not _accepts(url)
    assert not list(tmp_path.glob("pluto-pg-*"))


def test_the_command_line_starts_and_stops_a_server(tmp_path: Path) -> None:
    started = subprocess.run(
        [sys.executable, "-m", "sandbox.postgres", "start", "--dir", str(tmp_path)], capture_output=True, text=True
    )
    if started.returncode == 2:
        pytest.skip(started.stderr)
    url = started.stdout.strip()
    state = json.loads((tmp_path / "server.json").read_text())
    assert state["url"] == url and _accepts(url)
    subprocess.run([sys.executable, "-m", "sandbox.postgres", "stop", "--dir", str(tmp_path)], check=True)
    assert not _accepts(url)
    assert not Path(state["folder"]).exists()


def test_missing_binaries_name_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PG_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(postgres.glob, "glob", lambda _pattern: [])  # no Debian install either
    with pytest.raises(postgres.PostgresUnavailable, match=r"apt-get install postgresql-15"):
        postgres.start(tmp_path)
