"""``python -m sandbox.lms`` runs the sandbox standalone with the demo seed."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest


@pytest.fixture
async def standalone() -> AsyncIterator[tuple[asyncio.subprocess.Process, list[str]]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sandbox.lms",
        "--port",
        "0",
        "--seed",
        "demo",
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    lines = [(await asyncio.wait_for(proc.stdout.readline(), 30)).decode() for _ in range(6)]
    yield proc, lines
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def test_standalone_prints_url_and_demo_logins_and_stops_on_ctrl_c(
    standalone: tuple[asyncio.subprocess.Process, list[str]],
) -> None:
    proc, lines = standalone
    url = lines[0].split(" on ")[1].strip()
    assert url.startswith("http://127.0.0.1:")
    text = "".join(lines)
    for username in ("mentor", "mentee1", "mentee2"):
        assert f"{username} / Passw0rd!" in text
    async with aiohttp.ClientSession() as session:
        data = {"username": "mentor", "password": "Passw0rd!", "service": "moodle_mobile_app"}
        async with session.post(f"{url}/login/token.php", data=data) as resp:
            assert "token" in await resp.json()
    proc.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(proc.wait(), 10) == 0
