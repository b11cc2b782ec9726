"""One platform down at start does not fail the bridge: the real bridge process with
Telegram (sandbox) and Discord (nothing listening at its API and gateway addresses)."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.telegram import SandboxTelegram
from tests.conftest import free_port
from tests.platforms.telegram.conftest import SAM
from tests.platforms.telegram.world import TelegramWorld
from tests.support import cli

pytestmark = pytest.mark.e2e


async def test_discord_down_at_start_leaves_telegram_relaying_and_is_named(
    live_sandbox: SandboxTelegram, lms: SandboxLMS, seed: DemoSeed, tmp_path: Path
) -> None:
    closed = free_port()  # nothing listens here: Discord is down
    discord = {
        "enabled": True,
        "token": "discord-token",
        "application_id": "1",
        "api_base_url": f"http://127.0.0.1:{closed}/api/v10",
        "gateway_url": f"ws://127.0.0.1:{closed}",
    }
    world = TelegramWorld(live_sandbox, lms, tmp_path, "polling", settings={"discord": discord})
    await world.start()
    try:
        await world.link_by_command(SAM, "mentee1")
        lms.post_message(seed.mentor_id, seed.mentee1_id, "Telegram still works")
        await world.see(SAM, "Telegram still works")

        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{world.port}/readyz") as resp:
                status, ready = resp.status, await resp.json()
        assert status == 503
        assert ready["adapters"]["telegram"] == "connected"
        assert ready["adapters"]["discord"].startswith("failing: discord start failed")
        assert any(p.startswith("discord: failing") for p in ready["problems"])

        code, out, _ = await cli("status", "--config", str(world.config), "--json")
        state = json.loads(out)
        assert code != 0 and state["adapters"]["discord"].startswith("failing: discord start failed")
        assert state["adapters"]["telegram"] == "connected"

        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{world.port}/metrics") as resp:
                metrics = await resp.text()
        assert 'pluto_bridge_adapter_state{platform="discord",state="failing"} 1.0' in metrics
        assert 'pluto_bridge_adapter_state{platform="telegram",state="connected"} 1.0' in metrics
    finally:
        await world.stop()
