"""A reply is never misdirected: a reply to a message the bridge has no record of (a copy
resent after a crash, a bridge notice) goes where its header says, or the person is asked;
it never falls back silently to the current conversation (issue 12)."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from tests.platforms.telegram.conftest import SAM
from tests.platforms.telegram.world import TelegramWorld
from tests.support import lms_texts, until

pytestmark = pytest.mark.e2e


def forget_copies(world: TelegramWorld, needle_message_id: int) -> None:
    """The store loses its record of one delivered copy, as after a crash between the send
    and the record."""
    with sqlite3.connect(world.db) as conn:
        conn.execute("DELETE FROM message_map WHERE remote_id = ?", (str(needle_message_id),))


async def mentor_then_alex(
    world: TelegramWorld, lms: SandboxLMS, seed: DemoSeed, from_mentor: str, from_alex: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sam linked, a message from the mentor and then one from Alex shown: Alex's
    conversation is the current one. Returns the two LMS messages."""
    await world.link_by_command(SAM, "mentee1")
    mentor = lms.post_message(seed.mentor_id, seed.mentee1_id, from_mentor)
    await world.see(SAM, from_mentor)
    alex = lms.post_message(seed.mentee2_id, seed.mentee1_id, from_alex)
    await world.see(SAM, from_alex)
    return mentor, alex


async def test_reply_to_an_unknown_copy_is_asked_or_placed_by_its_header_never_misdirected(
    world: TelegramWorld, lms: SandboxLMS, seed: DemoSeed
) -> None:
    mentor, alex = await mentor_then_alex(world, lms, seed, "Mentor: ready for module 2?", "Alex: lunch?")
    mentor_copy = world.message_id_of(SAM, "Mentor: ready")
    forget_copies(world, mentor_copy)

    # The bridge's header on the copy names Maya Mentor: the reply goes to her, not to Alex.
    world.tg.user_sends_text(SAM, "Yes, I am ready.", reply_to=mentor_copy)
    await until(
        lambda: lms_texts(lms, mentor["conversationid"], seed.mentee1_id) == ["Yes, I am ready."],
        what="the reply in the mentor's conversation",
    )

    # A reply to a bridge notice names no conversation: asked, nothing sent anywhere.
    notice = world.message_id_of(SAM, "Linked to Pluto as")
    world.tg.user_sends_text(SAM, "Which one gets this?", reply_to=notice)
    [question] = await world.see(SAM, "which Pluto conversation this is for")
    assert lms_texts(lms, alex["conversationid"], seed.mentee1_id) == []
    assert lms_texts(lms, mentor["conversationid"], seed.mentee1_id) == ["Yes, I am ready."]
    asked = world.tg.messages[(SAM, world.message_id_of(SAM, "which Pluto conversation"))]
    buttons = {b["text"]: b["callback_data"] for row in asked["reply_markup"]["inline_keyboard"] for b in row}
    assert {"Maya Mentor", "Alex Mentee"} <= set(buttons), buttons

    world.tg.user_presses(SAM, asked["message_id"], buttons["Alex Mentee"])
    await until(
        lambda: lms_texts(lms, alex["conversationid"], seed.mentee1_id) == ["Which one gets this?"],
        what="the held text sent to the picked conversation",
    )
    await world.see(SAM, "Sent to Alex Mentee")
    # The question's buttons are retired: nothing can send the text a second time.
    assert not world.tg.messages[(SAM, asked["message_id"])].get("reply_markup", {}).get("inline_keyboard")
    assert lms_texts(lms, mentor["conversationid"], seed.mentee1_id) == ["Yes, I am ready."]
    assert "Which one gets this?" not in question


async def test_reply_to_a_copy_past_the_retention_is_placed_by_its_header(
    world: TelegramWorld, lms: SandboxLMS, seed: DemoSeed
) -> None:
    """Message-map rows older than ``store.message_map_retention_days`` (90) are pruned in
    the background; a reply to such an old copy still reaches its conversation (named by
    the copy's header), not the current one."""
    mentor, alex = await mentor_then_alex(world, lms, seed, "Mentor: how was the term?", "Alex: see you!")
    old_copy = world.message_id_of(SAM, "Mentor: how was")

    def mapped(remote_id: int) -> bool:
        with sqlite3.connect(world.db) as conn:
            return bool(conn.execute("SELECT 1 FROM message_map WHERE remote_id = ?", (str(remote_id),)).fetchall())

    await world.stop()
    with sqlite3.connect(world.db) as conn:  # the mentor's copy was sent 100 days ago
        aged = "UPDATE message_map SET created_at = created_at - 100 * 86400 WHERE remote_id = ?"
        conn.execute(aged, (str(old_copy),))
    await world.start()
    await until(lambda: not mapped(old_copy), what="the old row pruned")
    assert mapped(world.message_id_of(SAM, "Alex: see you"))  # a recent one stays

    world.tg.user_sends_text(SAM, "It went well, thanks.", reply_to=old_copy)
    await until(
        lambda: lms_texts(lms, mentor["conversationid"], seed.mentee1_id) == ["It went well, thanks."],
        what="the reply in the mentor's conversation",
    )
    assert lms_texts(lms, alex["conversationid"], seed.mentee1_id) == []
