"""What an operator sees of a running bridge (real process, Telegram sandbox as the chat
side): every Prometheus series moves with what happens, and the health endpoints tell the
truth, on a management address of their own."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.telegram import SandboxTelegram
from tests.conftest import free_port
from tests.e2e.harness import BridgeProcess, bridge_config
from tests.e2e.test_crash_recovery import USER, link_over_telegram, telegram, texts

pytestmark = pytest.mark.e2e

WITHIN = 20.0


__all__ = ["telegram"]  # the fixture


@contextlib.asynccontextmanager
async def bridge_with_management(
    lms: SandboxLMS, telegram: SandboxTelegram, tmp: Path
) -> AsyncIterator[tuple[BridgeProcess, int, int]]:
    """The bridge, Telegram only, with its operator endpoints on a management port of their
    own; yields (bridge, management port, public port) once /readyz says it is ready."""
    management = free_port()
    config, port = telegram_config(
        tmp, lms.url, telegram.token, telegram.base_url, management_listen=f"127.0.0.1:{management}"
    )
    bridge = await BridgeProcess(config).start()
    try:
        await bridge.ready(management)
        yield bridge, management, port
    finally:
        await bridge.stop()


def telegram_config(tmp: Path, lms_url: str, token: str, tg_api: str, **web: Any) -> tuple[Path, int]:
    """The console off, Telegram on at ``tg_api`` (a sandbox's base URL)."""
    return bridge_config(
        tmp,
        lms_url,
        console={"enabled": False},
        telegram={"enabled": True, "token": token, "base_url": tg_api + "/bot", "base_file_url": tg_api + "/file/bot"},
        web=web,
    )


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class Scraper:
    """Reads ``/metrics`` (or any operator endpoint) of the bridge on ``port``."""

    def __init__(self, http: aiohttp.ClientSession, port: int) -> None:
        self.http = http
        self.base = f"http://127.0.0.1:{port}"

    async def samples(self) -> Samples:
        async with self.http.get(self.base + "/metrics") as resp:
            assert resp.status == 200
            text = await resp.text()
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    async def json(self, path: str) -> tuple[int, dict[str, Any]]:
        async with self.http.get(self.base + path) as resp:
            return resp.status, await resp.json()

    async def until(self, check: Callable[[Samples], bool], what: str, bridge: BridgeProcess) -> Samples:
        """Scrape until ``check`` holds (the series move as the bridge works); the server
        may still be starting."""
        deadline = time.monotonic() + WITHIN
        samples: Samples = {}
        while True:
            with contextlib.suppress(aiohttp.ClientConnectionError):
                samples = await self.samples()
                if check(samples):
                    return samples
            if time.monotonic() > deadline:
                raise AssertionError(f"metrics never showed {what}:\n{samples}\n" + "\n".join(bridge.err[-20:]))
            await asyncio.sleep(0.1)


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 when the series does not exist (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def test_every_series_moves_during_a_run(
    lms: SandboxLMS, seed: DemoSeed, telegram: SandboxTelegram, tmp_path: Path
) -> None:
    async with bridge_with_management(lms, telegram, tmp_path) as (bridge, management, _):
        async with aiohttp.ClientSession() as http:
            ops = Scraper(http, management)
            first = await ops.until(lambda s: value(s, "pluto_bridge_poll_cycles_total") >= 1, "a poll", bridge)
            assert value(first, "pluto_bridge_lms_up") == 1
            assert value(first, "pluto_bridge_push_wakeups_total") == 0  # moved by the push receiver

            await link_over_telegram(telegram, "mentee1")
            lms.post_message(seed.mentor_id, seed.mentee1_id, "metrics one")
            await telegram.wait_until(lambda: any("metrics one" in t for t in texts(telegram)), within=WITHIN)
            linked = await ops.until(
                lambda s: value(s, "pluto_bridge_delivery_latency_seconds_count", platform="telegram") >= 1,
                "the message's LMS-to-chat latency",
                bridge,
            )
            assert value(linked, "pluto_bridge_links", status="active") == 1
            assert value(linked, "pluto_bridge_deliveries_total", platform="telegram", outcome="sent") >= 2
            assert value(linked, "pluto_bridge_poll_cycles_total") > value(first, "pluto_bridge_poll_cycles_total")
            conversations = "core_message_get_conversations"
            assert value(linked, "pluto_bridge_lms_calls_total", function=conversations, outcome="ok") >= 1
            assert value(linked, "pluto_bridge_lms_call_seconds_count", function="core_webservice_get_site_info") >= 1
            assert total(linked, "pluto_bridge_inbound_events_total", platform="telegram", outcome="handled") >= 1

            # The person writes back: an inbound message relayed into Pluto.
            before = total(linked, "pluto_bridge_inbound_events_total", kind="MessageEvent", outcome="handled")
            telegram.user_sends_text(USER, "a reply from chat")
            await ops.until(
                lambda s: total(s, "pluto_bridge_inbound_events_total", kind="MessageEvent", outcome="handled")
                > before,
                "the chat message handled",
                bridge,
            )

            # Telegram throttles the chat: the next message waits in the backlog, then goes.
            telegram.fail_next("sendMessage", chat_id=USER, status=429, retry_after=3)
            lms.post_message(seed.mentor_id, seed.mentee1_id, "metrics two")
            await ops.until(lambda s: value(s, "pluto_bridge_backlog", platform="telegram") == 1, "a backlog", bridge)
            await ops.until(
                lambda s: value(s, "pluto_bridge_backlog", platform="telegram") == 0, "the backlog drained", bridge
            )

            # Telegram refuses one for good: a dead delivery.
            telegram.fail_next("sendMessage", chat_id=USER, status=400)
            lms.post_message(seed.mentor_id, seed.mentee1_id, "metrics three")
            dead = await ops.until(
                lambda s: value(s, "pluto_bridge_dead_deliveries", platform="telegram") == 1, "a dead delivery", bridge
            )
            assert value(dead, "pluto_bridge_deliveries_total", platform="telegram", outcome="dead") == 1

            # The LMS goes down: lms_up drops and the failed calls are counted.
            lms.set_down(True)
            down = await ops.until(lambda s: value(s, "pluto_bridge_lms_up") == 0, "the LMS down", bridge)
            assert total(down, "pluto_bridge_lms_calls_total", outcome="unreachable") >= 1


async def test_readiness_names_what_is_wrong_on_the_management_address(
    lms: SandboxLMS, telegram: SandboxTelegram, tmp_path: Path
) -> None:
    async with bridge_with_management(lms, telegram, tmp_path) as (_, management, port):
        async with aiohttp.ClientSession() as http:
            ops = Scraper(http, management)
            status, body = await ops.json("/readyz")
            assert body["problems"] == [] and body["lms"] == "up" and body["store"] == "writable"
            assert body["adapters"] == {"telegram": "connected"}
            status, body = await ops.json("/healthz")
            assert status == 200 and body["ok"] is True and body["problems"] == []
            # Operators' endpoints are not on the public server any more.
            for path in ("/healthz", "/readyz", "/metrics"):
                async with http.get(f"http://127.0.0.1:{port}{path}") as resp:
                    assert resp.status == 404, path

            lms.set_down(True)
            deadline = time.monotonic() + WITHIN
            while (await ops.json("/readyz"))[0] != 503:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.2)
            status, body = await ops.json("/readyz")
            assert status == 503 and body["ok"] is False and body["lms"] == "unreachable"
            assert [p.split(":")[0] for p in body["problems"]] == ["LMS unreachable"]
            assert (await ops.json("/healthz"))[0] == 200  # alive: nothing to restart
            lms.set_down(False)
            deadline = time.monotonic() + WITHIN
            while (await ops.json("/readyz"))[0] != 200:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.2)


async def test_readiness_waits_for_the_chat_platform(lms: SandboxLMS, tmp_path: Path) -> None:
    dead_end = f"http://127.0.0.1:{free_port()}"  # nothing listens: Telegram unreachable
    config, port = telegram_config(tmp_path, lms.url, "123:dead-end", dead_end)
    bridge = await BridgeProcess(config).start()
    try:
        await bridge.expect(r"telegram: the Bot API cannot be reached at start", WITHIN, log=True)
        async with aiohttp.ClientSession() as http:
            ops = Scraper(http, port)
            status, body = await ops.json("/readyz")
            assert status == 503
            assert body["adapters"] == {"telegram": "connecting to Telegram"}
            assert body["problems"] == ["telegram: connecting to Telegram"]
            assert (await ops.json("/healthz"))[0] == 200
    finally:
        await bridge.stop()
