"""End to end on Teams, the platform's own life cycle, through the real bridge process:
a proactive send after a restart, forged tokens at /api/messages, the app removed and
installed again, and a message larger than one Teams payload. Card buttons pressed
(alerts, tasks, contact requests) are in test_alerts_tasks.py and test_tasks_totara.py."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import sqlite3
import sys
from pathlib import Path

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.teams import SandboxTeams, TokenSwitches
from tests.teams.conftest import TeamsChat, start_bridge, teams_bridge_config, texts_from, visible

pytestmark = pytest.mark.e2e


async def test_proactive_message_after_restart(
    lms: SandboxLMS, seed: DemoSeed, live_sandbox: SandboxTeams, tmp_path: Path
) -> None:
    config, port = teams_bridge_config(tmp_path, lms.url, live_sandbox)
    first = await start_bridge(config, port, live_sandbox)
    sam = live_sandbox.add_user("Sam Mentee")
    try:
        chat = TeamsChat(live_sandbox, first, port)
        await chat.install(sam)
        await chat.link(sam, "mentee1")
    finally:
        assert await first.stop() == 0
    tokens_before = len(live_sandbox.token_requests)

    second = await start_bridge(config, port, live_sandbox)
    try:
        chat = TeamsChat(live_sandbox, second, port)
        lms.post_message(seed.mentor_id, seed.mentee1_id, "Welcome back after the restart")
        await chat.wait_for_text(sam, "Welcome back after the restart")
        # Nothing was pushed to the new process: it reached Sam through the conversation
        # reference stored at install time, with an outbound token of its own.
        assert len(live_sandbox.token_requests) == tokens_before + 1
        post = [r for r in live_sandbox.requests if "Welcome back" in str(r.body)][-1]
        assert post.path == f"/v3/conversations/{chat.room(sam)}/activities" and post.status == 201
    finally:
        await second.stop()


async def test_every_forged_token_is_refused_by_the_bridge(
    chat: TeamsChat, lms: SandboxLMS, seed: DemoSeed
) -> None:
    sam = chat.sandbox.add_user("Sam Mentee")
    await chat.install(sam)
    await chat.link(sam, "mentee1")
    sent = lms.post_message(seed.mentor_id, seed.mentee1_id, "Anything to report?")
    await chat.wait_for_text(sam, "Anything to report?")
    before = len(chat.texts(sam))
    switches = [f.name for f in dataclasses.fields(TokenSwitches)]
    assert len(switches) >= 6
    answers = {}
    for switch in switches:
        forged = chat.sandbox.message(sam, f"forged with {switch}")
        answers[switch], _ = await chat.sandbox.push(forged, switches=TokenSwitches(**{switch: True}))
    assert answers == dict.fromkeys(switches, 401)
    # The same person, properly signed, goes through; no forged text ever did.
    await chat.say(sam, "genuine")
    await chat.until(lambda: texts_from(lms, sent["conversationid"], seed.mentee1_id) == ["genuine"])
    assert len(chat.texts(sam)) == before


def link_status(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute("SELECT status, status_reason FROM links"))


async def link_list(config: Path) -> str:
    """``pluto-bridge link list``, as the operator runs it; its standard output."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge", "link", "list", "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, out.decode()
    return out.decode()


async def test_removed_app_stops_deliveries_until_reinstalled_and_relinked(
    chat: TeamsChat, lms: SandboxLMS, seed: DemoSeed, tmp_path: Path
) -> None:
    sam = chat.sandbox.add_user("Sam Mentee")
    await chat.install(sam)
    await chat.link(sam, "mentee1")
    status, _ = await chat.sandbox.push(chat.sandbox.installation_update(sam, action="remove"))
    assert status in (200, 202)
    lms.post_message(seed.mentor_id, seed.mentee1_id, "Are you still there?")
    db = tmp_path / "bridge.sqlite3"
    await chat.until(lambda: [s for s, _ in link_status(db)] == ["inactive"])
    # Why it is inactive is kept, and the operator sees it: the app is not installed.
    ((_, reason),) = link_status(db)
    assert "not installed" in reason, reason
    listed = await link_list(chat.bridge.config)
    assert re.search(r"^teams:\S+\tmentee1 \(id \d+\)\tinactive \(.*not installed.*\)\tlinked ", listed, re.M), listed
    refused = [r for r in chat.sandbox.requests if r.status == 403]
    assert [r.conversation for r in refused] == [chat.room(sam)]
    # Inactive: later messages are not even tried (they wait in Pluto).
    lms.post_message(seed.mentor_id, seed.mentee1_id, "Hello again?")
    await asyncio.sleep(1.0)  # several poll and dispatch cycles
    assert [r for r in chat.sandbox.requests if r.status == 403] == refused
    # Sam installs the app again and signs in again: messages flow once more.
    await chat.install(sam)
    await chat.link(sam, "mentee1")
    # (Not "Welcome back, Sam": the bridge greets a returning Sam with "Welcome back, Sam
    # Mentee", and waiting for that would not wait for the mentor's message at all.)
    lms.post_message(seed.mentor_id, seed.mentee1_id, "Good to have you back")
    await chat.wait_for_text(sam, "Good to have you back")
    shown = [visible(t) for t in chat.texts(sam)]
    # Written while Sam could not be reached: kept, and delivered once Sam is back.
    assert sum("Hello again?" in t for t in shown) == 1
    # The one the app's removal refused is recorded as not deliverable, with the reason.
    assert not any("Are you still there?" in t for t in shown)
    with sqlite3.connect(db) as conn:
        dead = conn.execute("SELECT status, last_error FROM outbox WHERE payload LIKE '%still there%'").fetchall()
    assert [(status, "not installed" in error) for status, error in dead] == [("dead", True)]


async def test_long_alert_arrives_whole_in_parts_within_the_payload_limit(
    chat: TeamsChat, lms: SandboxLMS, seed: DemoSeed
) -> None:
    sam = chat.sandbox.add_user("Sam Mentee")
    await chat.install(sam)
    await chat.link(sam, "mentee1")
    # 14,000 characters, the Cyrillic ones 6 bytes each in JSON: about 49 KB, three activities.
    words = [f"слово{n:04d}" for n in range(1400)]
    lms.notify(seed.mentee1_id, subject="Длинное объявление", text=" ".join(words))
    await chat.wait_for_text(sam, words[-1], limit=20)
    parts = [a for a in chat.sandbox.messages_in(chat.room(sam)) if "слово" in a["text"]]
    assert len(parts) >= 3
    shown = re.findall(r"слово\d{4}", " ".join(visible(a["text"]) for a in parts))
    assert shown == words
    # The buttons come once, with the last part.
    assert parts[-1]["attachments"] and not any(a.get("attachments") for a in parts[:-1])
    assert [r.status for r in chat.sandbox.requests if r.status >= 400] == []
