"""Fixtures shared by every test folder: the sandbox LMS and free loopback ports."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import pytest

from sandbox.lms import DemoSeed, SandboxLMS


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


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
