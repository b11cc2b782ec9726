"""Secrets never reach the log, even at DEBUG (issue 13, item 4): an end-to-end scenario
(webhook mode, linking both ways, messages both ways) runs the real bridge at DEBUG, then
the whole log is searched for every secret it handled."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.telegram import SandboxTelegram
from tests.e2e.harness import leaked
from tests.platforms.telegram.conftest import ALEX, SAM
from tests.platforms.telegram.world import WEBHOOK_SECRET, TelegramWorld

pytestmark = pytest.mark.e2e

PRIVATE_FROM_PLUTO = "Private note about your grade appeal 7731"
PRIVATE_FROM_CHAT = "Please keep my medical leave 4410 between us"


@pytest.fixture
async def debug_world(
    live_sandbox: SandboxTelegram, lms: SandboxLMS, seed: DemoSeed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[TelegramWorld]:
    monkeypatch.setenv("PLUTO_BRIDGE_LOG_LEVEL", "DEBUG")
    w = TelegramWorld(live_sandbox, lms, tmp_path, "webhook")
    await w.start()
    yield w
    await w.stop()


async def test_a_debug_log_holds_no_secret(debug_world: TelegramWorld, lms: SandboxLMS, seed: DemoSeed) -> None:
    w = debug_world
    await w.link_by_command(SAM, "mentee1")
    code = await w.link_by_deep_link(ALEX, "mentee2")
    sign_in = next(m.group(0) for t in w.texts(SAM) if (m := re.search(r"/link/[A-Za-z0-9_-]+", t)))
    lms.post_message(seed.mentor_id, seed.mentee1_id, PRIVATE_FROM_PLUTO)
    await w.see(SAM, PRIVATE_FROM_PLUTO)
    w.tg.user_sends_text(SAM, PRIVATE_FROM_CHAT)
    conversation = lms.conversation_between(seed.mentor_id, seed.mentee1_id)
    assert conversation is not None
    await w.wait(
        lambda: any(PRIVATE_FROM_CHAT in m["text"] for m in lms.messages_in(conversation)), "the reply in Pluto"
    )
    await w.stop()
    assert w.bridge is not None
    secrets = {
        "the bot token": w.tg.token.split(":", 1)[1],
        "the webhook secret": WEBHOOK_SECRET,
        "the chat-first link code": sign_in.removeprefix("/link/"),
        "the web-first link code": code,
        "a message from Pluto": PRIVATE_FROM_PLUTO,
        "a message from chat": PRIVATE_FROM_CHAT,
        "the token key": "tu4gX0m6p3tq2JYQn3Zq0f7hS9nXcUq0bD8k2pLr4sA=",
    }
    secrets |= {f"LMS token of user {t.userid}": t.token for t in lms.state.tokens.values()}
    assert leaked(w.bridge.err, secrets) == []
