"""Fixtures shared by every test folder: the sandbox LMS and free loopback ports."""

from __future__ import annotations

import itertools
import os
import random
import socket
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from bridge.store.crypto import new_key
from bridge.store.store import Store
from sandbox.lms import DemoSeed, SandboxLMS
from tests.stores import STORE_ENV, PostgresDatabases, chosen_stores, store_for


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--store",
        choices=["sqlite", "postgresql", "both"],
        default=os.environ.get(STORE_ENV, "both"),
        help="the stores store tests (and e2e tests marked postgres) run on (default both; env PLUTO_TEST_STORE)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "postgres: runs on PostgreSQL too (an e2e test; a store_url test's PostgreSQL run carries it)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked ``long(seconds)`` spread over the first half of the run, longest
    first; the rest keep their order. Workers take tests two at a time in this order
    (``--maxschedchunk 2``), so a long wait starts early enough to end with the suite and
    overlaps its other work, and no more than a couple of workers wait at once (with all
    of them first, four of five sat waiting while the cores idled)."""

    def seconds(item: pytest.Item) -> float:
        mark = item.get_closest_marker("long")
        return float(mark.args[0]) if mark is not None and mark.args else 0.0

    long = sorted((i for i in items if seconds(i) > 0), key=seconds, reverse=True)
    rest = [i for i in items if seconds(i) == 0]
    gap = max(1, len(rest) // 2 // max(1, len(long)))
    for n, item in enumerate(long):
        rest.insert(n * (gap + 1), item)
    items[:] = rest


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test asking for ``store_url``, or an e2e test marked ``postgres`` asking for
    ``bridge_store_url``, runs once per store chosen by ``--store``."""
    marked = metafunc.definition.get_closest_marker("postgres") is not None
    for name in ("store_url", "bridge_store_url"):
        if name in metafunc.fixturenames and (name == "store_url" or marked):
            stores = chosen_stores(metafunc.config.getoption("store"))
            params = [pytest.param(s, marks=[pytest.mark.postgres] if s == "postgresql" else []) for s in stores]
            metafunc.parametrize(name, params, indirect=True, ids=stores)
            return


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Measured figures (burst times against the limits' minimum) in the summary. Tests record
    them with ``record_property("figure", ...)``: under pytest-xdist a worker's own print never
    reaches the terminal. Defined here, as only the root conftest is loaded by the controller."""
    if not config.getoption("numprocesses", None):
        return  # without workers the tests printed them already
    for report in terminalreporter.getreports("passed"):
        for name, value in report.user_properties:
            if name == "figure":
                terminalreporter.write_line(str(value))


BurstReport = Callable[[str, Mapping[Any, Sequence[float]], float, float], str]


@pytest.fixture
def burst_report(capsys: pytest.CaptureFixture[str], record_property: Callable[[str, object], None]) -> BurstReport:
    """Prints a burst's figure from ``sends``, each chat's send times (monotonic) as the
    platform received them, against the least time the platform's limits allow: per chat
    (``chat_floor``) and for the whole bot (``bot_floor``). Achieved / allowed is the
    binding floor over the time it measures: the slowest chat's span from its first send
    to its last (chats are paced apart, and the LMS hands some people's items over later
    than others'), or the whole burst's span when the bot-wide limit binds."""

    def report(platform: str, sends: Mapping[Any, Sequence[float]], chat_floor: float, bot_floor: float) -> str:
        every = [t for times in sends.values() for t in times]
        total = max(every) - min(every)
        slowest = max(max(times) - min(times) for times in sends.values())
        floor, elapsed = (chat_floor, slowest) if chat_floor >= bot_floor else (bot_floor, total)
        ratio = floor / elapsed if elapsed > 0 else 1.0
        line = (
            f"burst {platform}: {len(every)} messages to {len(sends)} chats in {total:.1f} s, slowest chat "
            f"{slowest:.1f} s (limits allow >= {floor:.1f} s; achieved / allowed {ratio:.2f})"
        )
        record_property("figure", line)  # shown in the summary under pytest-xdist
        with capsys.disabled():
            print(f"\n{line}")
        return line

    return report


# Ports a test hands to a server it starts later (a bridge's web port) come from a block of
# this test process's own, below the kernel's ephemeral range (32768-60999). A port picked
# there by binding port 0 was once taken, before the bridge bound it, by an outgoing
# connection's local end (EADDRINUSE); and two workers could pick the same one.
_PORT_BLOCK = 2000
_FIRST_PORT = 20000


def _port_block() -> Iterator[int]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    first = _FIRST_PORT + (index % 6) * _PORT_BLOCK  # up to 6 workers below 32768
    start = random.randrange(_PORT_BLOCK)  # a rerun soon after does not reuse the same ones
    return itertools.cycle([first + (start + n) % _PORT_BLOCK for n in range(_PORT_BLOCK)])


_ports = _port_block()


def free_port() -> int:
    """A loopback port nobody listens on right now, from this test process's own block."""
    for _ in range(_PORT_BLOCK):
        port = next(_ports)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use (a server of this process still running)
            return port
    raise RuntimeError("no free loopback port in this test process's block")


@pytest.fixture
async def lms() -> AsyncIterator[SandboxLMS]:
    """A started sandbox Pluto LMS (modern mode), empty but for the admin."""
    server = SandboxLMS()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def seed(lms: SandboxLMS) -> DemoSeed:
    """The demo seed: mentor, mentee1, mentee2 in MENT101 and group conversation Cohort A."""
    return lms.seed_demo()


@pytest.fixture(scope="session")
def postgres_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresDatabases]:
    """This session's PostgreSQL server (started on first use) and its fresh databases."""
    databases = PostgresDatabases(tmp_path_factory.mktemp("postgres"))
    try:
        yield databases
    finally:
        databases.close()


@pytest.fixture
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The store URL of this run of the test: a SQLite file in ``tmp_path`` (bridge.sqlite3)
    or a fresh migrated PostgreSQL database (dropped afterwards). Without PostgreSQL its
    runs skip, saying why, unless ``--store=postgresql`` asked for it alone (then they fail)."""
    yield from store_for(request, request.param, tmp_path)


@pytest.fixture
def bridge_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The store of an e2e test's bridge: ``store_url``'s choice when the test is marked
    ``postgres``, else bridge.sqlite3 in ``tmp_path`` (end-to-end runs cost minutes)."""
    yield from store_for(request, getattr(request, "param", "sqlite"), tmp_path)


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """An open, migrated, empty store on each of the chosen stores (see ``store_url``)."""
    opened = await Store.open(store_url, new_key())
    try:
        yield opened
    finally:
        await opened.close()
