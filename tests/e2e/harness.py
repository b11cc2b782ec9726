"""Runs the real ``pluto-bridge run`` process against sandboxes, with the console adapter
on its standard input and output, and reads what the person would see."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from sandbox.control import Remote
from sandbox.telegram import SandboxTelegram
from tests.conftest import free_port
from tests.support import until


async def until_answer(
    probe: Callable[[], Awaitable[Any]], check: Callable[[Any], bool], what: str, within: float = 30.0
) -> Any:
    """Await ``probe`` until ``check`` holds on its answer (bounded: ``within`` seconds are
    only reached on failure); returns that answer."""
    deadline = time.monotonic() + within
    while True:
        found = await probe()
        if check(found):
            return found
        assert time.monotonic() < deadline, f"never saw {what}: {found}"
        await asyncio.sleep(0.2)


poll_until = until  # the name the e2e and chaos tests know it by

SECRET_KEY = "tu4gX0m6p3tq2JYQn3Zq0f7hS9nXcUq0bD8k2pLr4sA="


def leaked(log: Sequence[str], secrets: Mapping[str, str]) -> list[str]:
    """The names of the ``secrets`` (name -> value) found anywhere in the ``log`` lines of
    a bridge run at DEBUG (issue 13, item 4); asserts the run did log at DEBUG."""
    text = "\n".join(log)
    assert " DEBUG " in text, "the scenario ran at DEBUG"
    return [name for name, secret in secrets.items() if secret in text]


def sign_in(username: str, password: str = "Passw0rd!") -> dict[str, str]:
    """The sign-in page's form as a person fills it in, ticking "this is my chat account"."""
    return {"username": username, "password": password, "confirm": "yes"}


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    lines: list[str] = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in values.items() if not isinstance(value, dict))
        for key, value in values.items():
            if isinstance(value, dict):
                lines.append(f"[{section}.{key}]")
                lines.extend(f'"{k}" = {toml_value(v)}' for k, v in value.items())
    path.write_text("\n".join(lines) + "\n")
    return path


_TEMPLATE_STORE: Path | None = None


def current_sqlite_store() -> Path:
    """A SQLite store this version's migrations ran on, made once per test process."""
    global _TEMPLATE_STORE
    if _TEMPLATE_STORE is None:
        from sqlalchemy import create_engine

        from bridge.store.migrate import upgrade_connection

        folder = tempfile.mkdtemp(prefix="pluto-store-")
        atexit.register(shutil.rmtree, folder, True)
        path = Path(folder) / "bridge.sqlite3"
        engine = create_engine(f"sqlite:///{path}")
        try:
            with engine.begin() as conn:
                upgrade_connection(conn)
        finally:
            engine.dispose()
        _TEMPLATE_STORE = path
    return _TEMPLATE_STORE


def bridge_config(tmp: Path, lms_url: str, **extra: dict[str, Any]) -> tuple[Path, int]:
    """A config for the console adapter on SQLite in ``tmp``; returns (path, web port).

    Without a store URL of the test's own, the bridge starts on a copy of a store already at
    this version's schema, as every start after a deployment's first does: the suite starts
    hundreds of bridges on 2 cores, and migrating a new store cost each a tenth of its start.
    A test of migrating a new store names its store (``store={"url": ...}``)."""
    port = free_port()
    if "url" not in extra.get("store", {}) and not (tmp / "bridge.sqlite3").exists():
        shutil.copyfile(current_sqlite_store(), tmp / "bridge.sqlite3")  # made 0600 when opened
    sections: dict[str, dict[str, Any]] = {
        "lms": {"url": lms_url, "poll_interval": 0.3, "timeout": 3, "retries": 1},
        "store": {"url": f"sqlite+aiosqlite:///{tmp / 'bridge.sqlite3'}", "token_key": SECRET_KEY},
        "web": {"host": "127.0.0.1", "port": port, "public_url": f"http://127.0.0.1:{port}"},
        "outbox": {"backoff_initial": 0.2, "backoff_max": 1.0},
        "console": {"enabled": True, "user_id": "sam"},
    }
    for section, values in extra.items():
        sections.setdefault(section, {}).update(values)
    return write_config(tmp / "bridge.toml", sections), port


async def terminate(proc: asyncio.subprocess.Process, within: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not ended ``within`` seconds."""
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), within)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):  # it may exit just as time runs out
            proc.kill()
        await proc.wait()


class BridgeProcess:
    """One ``pluto-bridge run`` process and everything it printed. ``argv``: the Python
    arguments that run it, when not ``-m bridge run --config CONFIG`` (a test launcher)."""

    def __init__(self, config: Path, argv: Sequence[str] | None = None) -> None:
        self.config = config
        self.argv = list(argv) if argv is not None else ["-m", "bridge", "run", "--config", str(config)]
        self.proc: asyncio.subprocess.Process | None = None
        self.out: list[str] = []
        self.err: list[str] = []
        self._changed = asyncio.Event()
        self._readers: list[asyncio.Task[None]] = []

    async def start(self) -> BridgeProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_PROXY": "127.0.0.1,localhost"}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            asyncio.create_task(self._pump(self.proc.stdout, self.out)),
            asyncio.create_task(self._pump(self.proc.stderr, self.err)),
        ]
        return self

    async def _pump(self, stream: asyncio.StreamReader, sink: list[str]) -> None:
        while line := await stream.readline():
            sink.append(line.decode(errors="replace").rstrip("\n"))
            self._changed.set()

    @property
    def text(self) -> str:
        return "\n".join(self.out)

    async def expect(
        self, pattern: str, timeout: float = 15.0, *, after: int = 0, log: bool = False
    ) -> re.Match[str]:
        """Wait until the person's console (the bridge's log with ``log``) shows ``pattern``
        (searched from line ``after``)."""
        regex = re.compile(pattern, re.S)
        deadline = time.monotonic() + timeout
        lines = self.err if log else self.out
        while True:
            match = regex.search("\n".join(lines[after:]))
            if match:
                return match
            if self.proc is not None and self.proc.returncode is not None:
                raise AssertionError(
                    f"bridge exited ({self.proc.returncode}) before showing {pattern!r}:\n" + "\n".join(self.err[-30:])
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"console never showed {pattern!r}; it showed:\n{self.text}\nstderr:\n" + "\n".join(self.err[-30:])
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def expect_log(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        """Wait until the bridge's log (standard error) shows ``pattern``."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while not (match := regex.search("\n".join(self.err))):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (self.proc is not None and self.proc.returncode is not None):
                raise AssertionError(f"log never showed {pattern!r}:\n" + "\n".join(self.err[-30:]))
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return match

    async def ready(self, port: int, within: float = 60.0) -> None:
        """Wait until ``/readyz`` on ``port`` answers 200: the web server, the adapters and
        the LMS are up. Start-up alone (imports) takes many seconds on a loaded machine, so
        this has its own generous bound and the test's own waits start after it."""
        deadline = time.monotonic() + within
        status, body = 0, ""
        async with aiohttp.ClientSession() as http:
            while status != 200:
                if self.proc is not None and self.proc.returncode is not None:
                    raise AssertionError(f"bridge exited ({self.proc.returncode}):\n" + "\n".join(self.err[-30:]))
                if time.monotonic() > deadline:
                    raise AssertionError(f"bridge not ready ({status} {body}):\n" + "\n".join(self.err[-30:]))
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                        status, body = resp.status, await resp.text()
                except aiohttp.ClientConnectionError:
                    pass
                if status != 200:
                    await asyncio.sleep(0.1)

    async def type(self, line: str) -> None:
        """The person types a line."""
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        await self.proc.stdin.drain()

    async def link(self, username: str, password: str = "Passw0rd!") -> None:
        """Link through the real flow: /link in chat, then the sign-in page."""
        mark = len(self.out)
        await self.type("/link")
        url = (await self.expect(r"(http://127\.0\.0\.1:\d+/link/[A-Za-z0-9_-]+)", after=mark)).group(1)
        async with aiohttp.ClientSession() as http:
            async with http.post(url, data=sign_in(username, password)) as resp:
                assert resp.status == 200, await resp.text()
        await self.expect(r"Linked to Pluto as", after=mark)

    def count(self, text: str) -> int:
        return self.text.count(text)

    async def kill(self) -> None:
        """SIGKILL: no clean shutdown, as a crash or an OOM kill would do it."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        await asyncio.gather(*self._readers, return_exceptions=True)

    async def stop(self) -> int:
        if self.proc is None or self.proc.returncode is not None:
            await asyncio.gather(*self._readers, return_exceptions=True)
            return self.proc.returncode or 0 if self.proc else 0
        await terminate(self.proc)
        await asyncio.gather(*self._readers, return_exceptions=True)
        return self.proc.returncode or 0


async def link_on_telegram(tg: SandboxTelegram, chat_id: int, username: str, password: str = "Passw0rd!") -> None:
    """Link a Telegram user through the real flow: /link in chat, then the sign-in page."""
    tg.user_sends_text(chat_id, "/link")
    await tg.wait_until(lambda: any("/link/" in m.get("text", "") for m in tg.sent_to(chat_id)), within=10)
    url = re.search(r"http://127\.0\.0\.1:\d+/link/[\w-]+", "\n".join(m.get("text", "") for m in tg.sent_to(chat_id)))
    assert url is not None
    async with aiohttp.ClientSession() as http:
        async with http.post(url.group(0), data=sign_in(username, password)) as resp:
            assert resp.status == 200


class SandboxProcess:
    """A sandbox's own CLI (``python -m MODULE --port P --control-port C``) in a process of
    its own, driven through ``sandbox.control.Remote`` as if it were the in-process object."""

    def __init__(self, module: str, *args: str, log: Path) -> None:
        self.module = module
        self.args = args
        self.log = log
        self.port = free_port()
        self.control_port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, within: float = 60.0) -> Remote:
        """Start it and wait (bounded) until its control API answers; returns the stand-in."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_PROXY": "127.0.0.1,localhost"}
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", self.module, "--port", str(self.port),
                "--control-port", str(self.control_port), *self.args,
                stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=asyncio.subprocess.STDOUT, env=env,
            )
        url = f"http://127.0.0.1:{self.control_port}"
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as http:
            while True:
                if self.proc.returncode is not None:
                    raise AssertionError(f"{self.module} exited ({self.proc.returncode}):\n{self.log.read_text()}")
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    async with http.get(url + "/ping") as resp:
                        if resp.status == 200:
                            return Remote(url)
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.module} never served its control API:\n{self.log.read_text()}")
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.proc is not None and self.proc.returncode is None:
            await terminate(self.proc)
