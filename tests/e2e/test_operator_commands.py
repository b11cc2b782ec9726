"""``pluto-bridge status`` and ``pluto-bridge deliveries`` as an operator runs them, beside
a real bridge process (Telegram sandbox as the chat side), and its JSON log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.telegram import SandboxTelegram
from tests.e2e.harness import SECRET_KEY, BridgeProcess, until_answer, write_config
from tests.e2e.test_crash_recovery import USER, link_over_telegram, telegram, texts
from tests.e2e.test_operations import WITHIN, telegram_config
from tests.support import cli

pytestmark = pytest.mark.e2e
MINIMAL = {"lms": {"url": "http://127.0.0.1:9"}, "store": {"token_key": SECRET_KEY}}
__all__ = ["telegram"]  # the fixture, shared with test_operations


async def json_of(*args: str) -> tuple[int, Any]:
    code, out, err = await cli(*args, "--json")
    assert out, err
    return code, json.loads(out)


async def test_status_and_dead_letters_while_the_bridge_runs_and_after(
    lms: SandboxLMS, seed: DemoSeed, telegram: SandboxTelegram, tmp_path: Path
) -> None:
    config, port = telegram_config(tmp_path, lms.url, telegram.token, telegram.base_url)
    with config.open("a") as f:
        f.write('[log]\nformat = "json"\n')
    c = str(config)

    code, out, _ = await cli("status", "--config", c)
    assert code == 1 and "NOT RUNNING (never ran on this store)" in out and f"LMS:         {lms.url} up" in out

    bridge = await BridgeProcess(config).start()
    try:
        await bridge.ready(port)
        await link_over_telegram(telegram, "mentee1")
        code, state = await until_answer(
            lambda: json_of("status", "--config", c), lambda s: s[1]["bridge"]["last_poll_at"], "a poll"
        )
        assert code == 0 and state["ok"] is True, state
        assert state["bridge"]["running"] is True and state["adapters"] == {"telegram": "connected"}
        assert state["links"] == {"active": 1} and state["lms"]["up"] is True and state["dead"] == {}

        # Telegram refuses one message for good: a dead letter, with Telegram's reason.
        telegram.fail_next("sendMessage", chat_id=USER, status=400)
        lms.post_message(seed.mentor_id, seed.mentee1_id, "dead letter one")
        _, [dead] = await until_answer(
            lambda: json_of("deliveries", "list", "--dead", "--config", c), lambda r: r[1], "a dead delivery"
        )
        assert dead["status"] == "dead" and dead["reason"] == "Injected failure"
        assert dead["link"] == "telegram:111 (mentee1)"
        code, out, _ = await cli("deliveries", "list", "--link", str(dead["link_id"]), "--config", c)
        assert code == 0 and f"{dead['id']}\tdead\tlink {dead['link_id']} telegram:111 (mentee1)" in out
        assert "reason: " in out and "1 delivery" in out
        code, out, _ = await cli("status", "--config", c)
        assert code == 0 and "dead:        telegram 1" in out
        # The person is told, once, in the same chat.
        told = "1 message from Maya Mentor could not be delivered here"
        await telegram.wait_until(lambda: sum(told in t for t in texts(telegram)) == 1, within=WITHIN)

        # The log said so, as one JSON object per line naming the link and the platform.
        entries = [json.loads(line) for line in bridge.err if line.startswith("{")]
        assert len(entries) == len(bridge.err)  # every line is JSON
        [failed] = [e for e in entries if "failed for good" in e["message"]]
        assert failed["level"] == "WARNING" and failed["logger"] == "bridge.outbox"
        assert failed["link_id"] == dead["link_id"] and failed["platform"] == "telegram" and failed["time"]

        # Retried: the running bridge sends it.
        code, out, _ = await cli("deliveries", "retry", str(dead["id"]), "--config", c)
        assert code == 0 and f"1 delivery queued again: {dead['id']}" in out
        await telegram.wait_until(lambda: any("dead letter one" in t for t in texts(telegram)), within=WITHIN)

        # Another one dies and is dropped: it is never sent, not even by --all-dead.
        telegram.fail_next("sendMessage", chat_id=USER, status=400)
        lms.post_message(seed.mentor_id, seed.mentee1_id, "dead letter two")
        _, [second] = await until_answer(
            lambda: json_of("deliveries", "list", "--dead", "--config", c), lambda r: r[1], "a second dead one"
        )
        code, out, _ = await cli("deliveries", "drop", str(second["id"]), "--config", c)
        assert code == 0 and f"delivery {second['id']} dropped" in out
        code, out, _ = await cli("deliveries", "retry", "--all-dead", "--config", c)
        assert code == 0 and "0 deliveries queued again" in out
        code, out, _ = await cli("deliveries", "drop", str(second["id"]), "--config", c)
        assert code == 1 and f"no pending or dead delivery with id {second['id']}" in out
        code, out, _ = await cli("deliveries", "retry", "999", "--config", c)
        assert code == 1 and "no dead delivery with id 999" in out
    finally:
        await bridge.stop()
    assert not any("dead letter two" in t for t in texts(telegram))
    assert sum("could not be delivered here" in t for t in texts(telegram)) == 2  # one notice per dead delivery

    code, state = await json_of("status", "--config", c)
    assert code == 1 and state["bridge"]["running"] is False and state["problems"] == ["the bridge is not running"]
    assert state["adapters"] == {"telegram": "not running"} and state["dead"] == {}
    code, out, _ = await cli("status", "--config", c)
    assert code == 1 and "NOT RUNNING (last seen" in out and "links:       active 1" in out


async def test_retry_takes_an_id_or_all_dead(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", MINIMAL)
    for args in ((), ("3", "--all-dead")):
        code, _, err = await cli("deliveries", "retry", *args, "--config", str(config))
        assert code == 2 and "give a delivery id or --all-dead" in err


async def test_run_without_a_chat_platform_is_a_config_error(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", MINIMAL)
    code, out, err = await cli("run", "--config", str(config))
    assert code == 2 and out == ""
    assert err.strip() == (
        "config error: no chat platform is enabled: set enabled = true in [telegram], [slack], [discord], [teams] "
        "or [console]"
    )
