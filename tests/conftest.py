"""Fixtures shared by every test folder: the sandbox LMS and free loopback ports."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

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
