"""Every scenario here runs once per driver: console, Telegram (polling, webhook), Slack
(HTTP, Socket Mode), Discord and Teams, each against the real bridge process."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path

import pytest

from sandbox.lms import DemoSeed, SandboxLMS

from .drivers.base import ChatDriver
from .drivers.console import ConsoleDriver
from .drivers.discord import DiscordDriver
from .drivers.slack import SlackDriver
from .drivers.teams import TeamsDriver
from .drivers.telegram import TelegramDriver

DRIVERS: dict[str, Callable[[SandboxLMS, Path], ChatDriver]] = {
    "console": ConsoleDriver,
    "telegram-polling": partial(TelegramDriver, mode="polling"),
    "telegram-webhook": partial(TelegramDriver, mode="webhook"),
    "slack-http": partial(SlackDriver, mode="http"),
    "slack-socket": partial(SlackDriver, mode="socket"),
    "discord": DiscordDriver,
    "teams": TeamsDriver,
}


# One driver per platform, and the console. A platform's transports (Telegram polling or
# webhook, Slack HTTP or Socket Mode) differ only in how events arrive and are acknowledged,
# which the message, item, task, linking and restart scenarios check on all seven drivers;
# a module whose scenarios are about what a command does sets ``DRIVER_NAMES`` to this.
ONE_PER_PLATFORM = ["console", "telegram-polling", "slack-http", "discord", "teams"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``driver`` runs on every driver, or on the module's ``DRIVER_NAMES``."""
    if "driver" in metafunc.fixturenames:
        metafunc.parametrize("driver", getattr(metafunc.module, "DRIVER_NAMES", list(DRIVERS)), indirect=True)


@pytest.fixture
async def driver(
    request: pytest.FixtureRequest, lms: SandboxLMS, seed: DemoSeed, tmp_path: Path
) -> AsyncIterator[ChatDriver]:
    """The real bridge process with only this platform enabled, started, against the seeded LMS."""
    async with running(request.param, lms, tmp_path) as chat:
        yield chat


@contextlib.asynccontextmanager
async def running(name: str, lms: SandboxLMS, tmp_path: Path) -> AsyncIterator[ChatDriver]:
    """The driver ``name`` (a key of ``DRIVERS``), started, and stopped afterwards."""
    chat = DRIVERS[name](lms, tmp_path)
    try:
        await chat.start()
        yield chat
    finally:
        await chat.stop()
