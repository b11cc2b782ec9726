"""End to end on Telegram: the real bridge process running the real python-telegram-bot
against the sandbox Bot API (at its real flood limits) and the sandbox LMS, in polling and
in webhook mode. Assertions are on what the person sees in chat (the sandbox's records,
entities parsed as Telegram would) and on what the LMS stores."""

from __future__ import annotations

import asyncio
import re

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.lms.textformat import format_text
from sandbox.telegram_html import parse_html
from tests.platforms.telegram.conftest import ALEX, SAM
from tests.platforms.telegram.world import TelegramWorld, until

pytestmark = pytest.mark.e2e


def lms_texts(lms: SandboxLMS, conversation_id: int | None, author: int) -> list[str]:
    """What ``author`` has written in an LMS conversation, raw as stored."""
    if conversation_id is None:
        return []
    return [m["text"] for m in lms.messages_in(conversation_id) if m["useridfrom"] == author]


async def test_deep_link_then_both_directions(world: TelegramWorld, lms: SandboxLMS, seed: DemoSeed) -> None:
    code = await world.link_by_deep_link(SAM, "mentee1")
    start = next(r for r in world.tg.calls("sendMessage") if "Linked to Pluto as" in parse_html(r.params["text"]))
    assert "Sam Mentee" in parse_html(start.params["text"])
    # The code is single-use: pressing Start with it again links nothing.
    world.tg.user_starts(ALEX, code)
    await world.see(ALEX, "expired or was already used")

    sent = lms.post_message(seed.mentor_id, seed.mentee1_id, "Hello Sam, how is module 1 going?")
    [shown] = await world.see(SAM, "how is module 1 going")
    assert shown.startswith("Maya Mentor\n")  # who wrote it, on top
    wire = world.sends_to(SAM)[-1].params
    assert wire["parse_mode"] == "HTML" and wire["text"].startswith("<b>Maya Mentor</b>")

    world.tg.user_sends_text(SAM, "Going well, thanks Maya!")
    await until(
        lambda: lms_texts(lms, sent["conversationid"], seed.mentee1_id) == ["Going well, thanks Maya!"],
        "Sam's answer in the LMS conversation, as Sam",
    )


async def test_link_command_and_reply_routing(world: TelegramWorld, lms: SandboxLMS, seed: DemoSeed) -> None:
    await world.link_by_command(SAM, "mentee1")
    mentor_conv = lms.post_message(seed.mentor_id, seed.mentee1_id, "Mentor question: ready for module 2?")
    await world.see(SAM, "Mentor question")
    alex_conv = lms.post_message(seed.mentee2_id, seed.mentee1_id, "Alex here: lunch?")
    await world.see(SAM, "Alex here")
    mentor_msg, alex_msg = world.message_id_of(SAM, "Mentor question"), world.message_id_of(SAM, "Alex here")

    def mentor_thread() -> list[str]:
        return lms_texts(lms, mentor_conv["conversationid"], seed.mentee1_id)

    def alex_thread() -> list[str]:
        return lms_texts(lms, alex_conv["conversationid"], seed.mentee1_id)

    # Alex wrote last, so Alex's conversation is the current one: Telegram's reply-to decides.
    world.tg.user_sends_text(SAM, "Yes, ready.", reply_to=mentor_msg)
    await until(lambda: mentor_thread() == ["Yes, ready."], "the reply in the mentor's conversation")
    world.tg.user_sends_text(SAM, "Lunch sounds good.", reply_to=alex_msg)
    await until(lambda: alex_thread() == ["Lunch sounds good."], "the reply in Alex's conversation")
    world.tg.user_sends_text(SAM, "One more thing, Maya.", reply_to=mentor_msg)
    await until(lambda: mentor_thread()[-1:] == ["One more thing, Maya."], "the second reply to the mentor")
    # Without reply-to, text goes to the conversation last answered.
    world.tg.user_sends_text(SAM, "And the slides?")
    await until(lambda: mentor_thread()[-1:] == ["And the slides?"], "plain text to the current conversation")
    assert alex_thread() == ["Lunch sounds good."]
    assert mentor_thread() == ["Yes, ready.", "One more thing, Maya.", "And the slides?"]


HOSTILE_LMS = (
    "<b>x</b> & <!channel> <@U1> @everyone <at>Boss</at> **bold** <https://evil|click> "
    '<a href="https://evil.example/phish">fake link</a> &lt;i&gt;'
)
HOSTILE_CHAT = (
    '<b>hi</b> & <script>alert(1)</script> [x](https://evil.example) <a href="https://evil.example">y</a> &amp;'
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

    # (Chat -> LMS comes last: the bridge marks the conversation read after relaying, and a
    # message the LMS receives in that moment would be marked read too; see the report.)
    # chat -> LMS: stored as plain text (format 2), so the LMS shows it literally too.
    world.tg.user_sends_text(SAM, HOSTILE_CHAT)
    conv = lms.conversation_between(seed.mentor_id, seed.mentee1_id)
    await until(lambda: bool(lms_texts(lms, conv, seed.mentee1_id)), "the hostile text in the LMS")
    [stored] = [m for m in lms.messages_in(conv or 0) if m["useridfrom"] == seed.mentee1_id]
    assert (stored["text"], stored["textformat"]) == (HOSTILE_CHAT, 2)
    assert "<b>" not in format_text(stored["text"], stored["textformat"])


async def test_quick_lines_reach_the_lms_in_the_order_typed(
    world: TelegramWorld, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await world.link_by_command(SAM, "mentee1")
    sent = lms.post_message(seed.mentor_id, seed.mentee1_id, "Tell me about your week")
    await world.see(SAM, "Tell me about your week")
    lines = [f"line {n} of my week" for n in range(1, 7)]
    for line in lines:
        world.tg.user_sends_text(SAM, line)  # typed faster than the bridge can relay
    await until(
        lambda: len(lms_texts(lms, sent["conversationid"], seed.mentee1_id)) == len(lines), "every line in the LMS"
    )
    assert lms_texts(lms, sent["conversationid"], seed.mentee1_id) == lines


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
    await until(lambda: not lms.state.unread(lms.state.conversations[conversation], seed.mentee1_id), "marked read")
    await asyncio.sleep(0.8)  # polls (every 0.3 s) that cannot see it yet, in the held-back second
    lms.clock.advance(1)
    # It arrives within a few polls, not at the next full sweep (60 s).
    await world.see(SAM, "Second question", within=5)
