"""End to end against the sandbox behaving as a stock Moodle 4.5 / Totara site does (issue 11):
the real ``pluto-bridge run`` process, the console as the person's chat."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from tests.e2e.harness import BridgeProcess, bridge_config

pytestmark = pytest.mark.e2e


@pytest.fixture
async def bridge(lms: SandboxLMS, seed: DemoSeed, tmp_path: Path) -> AsyncIterator[BridgeProcess]:
    """The bridge, Sam (mentee1) linked through the real sign-in page."""
    config, _port = bridge_config(tmp_path, lms.url)
    process = await BridgeProcess(config).start()
    try:
        await process.expect(r"send /link")
        await process.link("mentee1")
        yield process
    finally:
        await process.stop()


async def test_a_message_of_0_is_delivered_without_waiting_for_another(
    bridge: BridgeProcess, lms: SandboxLMS, seed: DemoSeed
) -> None:
    # Moodle lists a conversation whose latest message is "0" with unreadcount 1 and no
    # messages (moodle-4.5-observed.md item 18); the answer must still arrive, well before
    # the 60 s sweep and with nothing sent after it.
    lms.post_message(seed.mentee2_id, seed.mentee1_id, "How many sessions did you miss?")
    await bridge.expect(r"Alex Mentee\n\nHow many sessions did you miss\?")
    mark = len(bridge.out)
    lms.post_message(seed.mentee2_id, seed.mentee1_id, "0")
    await bridge.expect(r"--- #\d+ ---\nAlex Mentee\n\n0(?:\n|$)", timeout=10, after=mark)
    assert bridge.count("How many sessions did you miss?") == 1
