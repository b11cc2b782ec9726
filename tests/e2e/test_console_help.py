"""The console's /help lists every command a console user can type (issue 17): the bridge's
command table and the console's own, checked against both tables so it cannot drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.console import CONSOLE_COMMANDS, ConsoleAdapter
from bridge.model import COMMANDS
from sandbox.lms import DemoSeed, SandboxLMS
from tests.contract.drivers.base import SAM
from tests.contract.drivers.console import ConsoleDriver

pytestmark = pytest.mark.e2e


def test_each_console_command_has_its_handler_and_each_handler_its_entry() -> None:
    handlers = {name.removeprefix("_cmd_") for name in dir(ConsoleAdapter) if name.startswith("_cmd_")}
    assert handlers == {c.name for c in CONSOLE_COMMANDS}
    assert not handlers & {c.name for c in COMMANDS}  # the console never shadows a bridge command


async def test_help_lists_every_console_command(lms: SandboxLMS, seed: DemoSeed, tmp_path: Path) -> None:
    console = ConsoleDriver(lms, tmp_path)
    await console.start()
    try:
        shown = "\n".join(await console.command(SAM, "help"))
    finally:
        await console.stop()
    for spec in (*COMMANDS, *CONSOLE_COMMANDS):
        assert f"/{spec.usage}: {spec.description}" in shown, spec.name
