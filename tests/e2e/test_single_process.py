"""One bridge process per SQLite store file: a second ``pluto-bridge run`` is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from tests.e2e.harness import BridgeProcess, bridge_config
from tests.support import cli

pytestmark = pytest.mark.e2e


async def test_second_process_on_one_store_file_is_refused(lms: SandboxLMS, seed: DemoSeed, tmp_path: Path) -> None:
    config, _ = bridge_config(tmp_path, lms.url)
    first = await BridgeProcess(config).start()
    try:
        await first.link("mentee1")  # the first one is up and working
        code, _, err = await cli("run", "--config", str(config))
        assert code == 2
        lines = [line for line in err.splitlines() if line.strip() and " INFO " not in line]
        assert len(lines) == 1, err
        assert "another pluto-bridge process is using the store" in lines[0]
        assert "bridge.sqlite3" in lines[0]
        # The first one carries on undisturbed.
        lms.post_message(seed.mentor_id, seed.mentee1_id, "still here")
        await first.expect("still here")
    finally:
        await first.stop()
    # Once it has stopped, the store is free again; the stop let the send it was making be
    # recorded, so the next start sends nothing twice.
    second = await BridgeProcess(config).start()
    try:
        await second.type("/help")
        await second.expect(r"/link")
        assert "still here" not in second.text
    finally:
        await second.stop()
