"""End to end on Telegram: the real bridge process running the real python-telegram-bot
against the sandbox Bot API (at its real flood limits) and the sandbox LMS, in polling and
in webhook mode. Assertions are on what the person sees in chat (the sandbox's records,
entities parsed as Telegram would) and on what the LMS stores."""

from __future__ import annotations

import asyncio
import re

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.telegram_html import parse_html
from tests.platforms.telegram.conftest import ALEX, SAM
from tests.platforms.telegram.world import TelegramWorld
from tests.support import lms_texts, until

pytestmark = pytest.mark.e2e


async def test_deep_link_then_a_message_in_html(world: TelegramWorld, lms: SandboxLMS, seed: DemoSeed) -> None:
    """Linking by command and both directions on every platform: tests/contract/."""
    code = await world.link_by_deep_link(SAM, "mentee1")
    start = next(r for r in world.tg.calls("sendMessage") if "Linked to Pluto as" in parse_html(r.params["text"]))
    assert "Sam Mentee" in parse_html(start.params["text"])
    # The code is single-use: pressing Start with it again links nothing.
    world.tg.user_starts(ALEX, code)
    await world.see(ALEX, "expired or was already used")

    lms.post_message(seed.mentor_id, seed.mentee1_id, "Hello Sam, how is module 1 going?")
    [shown] = await world.see(SAM, "how is module 1 going")
    assert shown.startswith("Maya Mentor\n")  # who wrote it, on top
    wire = world.sends_to(SAM)[-1].params
    assert wire["parse_mode"] == "HTML" and wire["text"].startswith("<b>Maya Mentor</b>")


HOSTILE_LMS = (
    "<b>x</b> & <!channel> <@U1> @everyone <at>Boss</at> **bold** <https://evil|click> "
    '<a href="https://evil.example/phish">fake link</a> &lt;i&gt;'
)


async def test_long_and_hostile_text(world: TelegramWorld, lms: SandboxLMS, seed: DemoSeed) -> None:
    await world.link_by_command(SAM, "mentee1")

    # LMS -> chat: what the mentor typed shows literally; only the bridge's own bold is markup.
    lms.post_message(seed.mentor_id, seed.mentee1_id, HOSTILE_LMS)
    [shown] = await world.see(SAM, "@everyone")
    assert shown.endswith(HOSTILE_LMS)
    wire = world.sends_to(SAM)[-1].params
    assert re.findall(r"<[^>]*>", wire["text"]) == ["<b>", "</b>"]  # around "Maya Mentor", nothing else
    assert parse_html(wire["text"]) == shown
    assert wire["link_preview_options"] == {"is_disabled": True} and "reply_markup" not in wire

    # Longer than Telegram's 4096 characters once the author is on top (the LMS caps the text
    # itself at 4096 bytes): several messages, in order, each accepted by Telegram.
    words = [f"w{i:04d}" for i in range(1, 683)]
    body = " ".join(words)
    assert len(body.encode()) <= 4096 < len("Maya Mentor\n\n" + body)
    mark = len(world.texts(SAM))
    lms.post_message(seed.mentor_id, seed.mentee1_id, body)
    await world.see(SAM, words[-1])
    parts = world.texts(SAM)[mark:]
    assert len(parts) >= 2 and all(len(p) <= 4096 for p in parts)
    assert " ".join(parts).split() == ["Maya", "Mentor", *words]
    assert all(r.ok for r in world.sends_to(SAM))  # every chunk accepted; never too fast
    # (Markup typed in chat, stored as plain text: tests/contract/test_messages.py.)


@pytest.mark.parametrize("world", ["polling"], indirect=True)
async def test_a_message_arriving_as_the_person_answers_is_not_hidden_by_marking_read(
    world: TelegramWorld, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await world.link_by_command(SAM, "mentee1")
    sent = lms.post_message(seed.mentor_id, seed.mentee1_id, "First question")
    await world.see(SAM, "First question")
    # One LMS second for the answer, the mentor's next message and the bridge's mark-read:
    # Moodle returns none of them until that second has passed (observed 5f).
    lms.clock.freeze(lms.clock.now() + 1)
    world.tg.user_sends_text(SAM, "My answer")
    conversation = sent["conversationid"]
    # The sandbox LMS runs in this event loop: the mentor writes again the moment Sam's
    # answer is stored, before the bridge's next LMS call (its mark-read).
    async with asyncio.timeout(15):
        while True:
            if any(m["useridfrom"] == seed.mentee1_id for m in lms.messages_in(conversation)):
                break
            await asyncio.sleep(0)
    lms.post_message(seed.mentor_id, seed.mentee1_id, "Second question")
    # Relaying the answer marks the whole conversation read, the new message with it, so
    # the unread count no longer says there is anything to read.
    await until(
        lambda: not lms.state.unread(lms.state.conversations[conversation], seed.mentee1_id), what="marked read"
    )
    await asyncio.sleep(0.8)  # polls (every 0.3 s) that cannot see it yet, in the held-back second
    lms.clock.advance(1)
    # It arrives within a few polls, not at the next full sweep (60 s).
    await world.see(SAM, "Second question", within=5)


@pytest.mark.parametrize("world", ["polling"], indirect=True)
async def test_an_unknown_command_is_answered_with_help_and_never_relayed(
    world: TelegramWorld, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await world.link_by_command(SAM, "mentee1")
    sent = lms.post_message(seed.mentor_id, seed.mentee1_id, "Any questions?")
    await world.see(SAM, "Any questions?")  # Maya's conversation is now Sam's current one
    world.tg.user_sends_text(SAM, "/frobnicate the module")
    [answer] = await world.see(SAM, "Unknown command frobnicate")
    assert "/to NAME" in answer  # the help follows, written the Telegram way
    world.tg.user_sends_text(SAM, "a real answer")
    await until(
        lambda: lms_texts(lms, sent["conversationid"], seed.mentee1_id) != [], what="Sam's answer in the LMS"
    )
    assert lms_texts(lms, sent["conversationid"], seed.mentee1_id) == ["a real answer"]
