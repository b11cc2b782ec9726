"""End to end on Discord when things go wrong: throttling, a dropped gateway, closed DMs.

The real ``pluto-bridge run`` process (only Discord enabled), its discord.py pointed at the
Discord sandbox (real limits), the sandbox LMS; assertions on what the person sees in their
DM, on the requests the sandbox recorded, on the LMS and on the bridge's store."""

from __future__ import annotations

import sqlite3

import pytest

from sandbox.discord import SandboxDiscord
from sandbox.lms import DemoSeed, SandboxLMS
from tests.platforms.discord.conftest import SAM
from tests.platforms.discord.world import DiscordWorld
from tests.support import lms_texts

pytestmark = pytest.mark.e2e


async def test_dropped_gateway_resumes_without_loss_or_doubles(
    world: DiscordWorld, sandbox: SandboxDiscord, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await world.link(SAM, "mentee1")
    sent = lms.post_message(seed.mentor_id, seed.mentee1_id, "Are you online?")
    conversation = sent["conversationid"]
    await world.wait(lambda: any("Are you online" in t for t in world.texts(SAM)), "the mentor's message")
    await sandbox.user_dm(SAM, "before the drop")
    await world.wait(lambda: lms_texts(lms, conversation, seed.mentee1_id) == ["before the drop"], "first reply")
    identifies = sum(f.get("op") == 2 for f in sandbox.gateway_frames)

    # The connection dies without a close frame; on RESUME the sandbox replays the missed
    # events and, as Discord may, two it had already delivered (at-least-once).
    sandbox.resume_overlap = 2
    sandbox.drop_connection()
    await sandbox.user_dm(SAM, "written offline 1")
    await sandbox.user_dm(SAM, "written offline 2")
    await sandbox.wait_connected(within=20)
    expected = ["before the drop", "written offline 1", "written offline 2"]
    await world.wait(lambda: lms_texts(lms, conversation, seed.mentee1_id) == expected, "the offline messages")
    # One more message after the resume proves the bridge has digested the replay.
    await sandbox.user_dm(SAM, "after the resume")
    await world.wait(lambda: len(lms_texts(lms, conversation, seed.mentee1_id)) == 4, "the message after resume")
    assert lms_texts(lms, conversation, seed.mentee1_id) == [*expected, "after the resume"]
    assert sum(f.get("op") == 6 for f in sandbox.gateway_frames) >= 1  # RESUME...
    assert sum(f.get("op") == 2 for f in sandbox.gateway_frames) == identifies  # ...not a new session


def link_status(world: DiscordWorld, user: str) -> tuple[str, str] | None:
    """(status, reason) of this Discord user's link, as the bridge's store holds it."""
    with sqlite3.connect(world.tmp / "bridge.sqlite3") as db:
        row = db.execute(
            "SELECT status, status_reason FROM links WHERE platform = 'discord' AND chat_user_id = ?", (user,)
        ).fetchone()
    return (str(row[0]), str(row[1])) if row else None


def message_statuses(world: DiscordWorld) -> list[str]:
    with sqlite3.connect(world.tmp / "bridge.sqlite3") as db:
        return [str(r[0]) for r in db.execute("SELECT status FROM outbox WHERE item_key LIKE 'msg:%' ORDER BY id")]


async def test_closed_dms_make_the_link_inactive_until_the_person_writes_again(
    world: DiscordWorld, sandbox: SandboxDiscord, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await world.link(SAM, "mentee1")
    sandbox.close_dms(SAM)  # Sam stops accepting DMs from the bot (Discord answers 403, code 50007)
    lms.post_message(seed.mentor_id, seed.mentee1_id, "Can you still read me?")
    await world.wait(lambda: (link_status(world, SAM) or ("",))[0] == "inactive", "the link to become inactive")
    status = link_status(world, SAM)
    assert status is not None and "Cannot send messages to this user" in status[1]
    assert message_statuses(world) == ["dead"]

    # One refused attempt, never retried.
    assert [r.status for r in world.posts_to(SAM) if "read me" in str(r.body)] == [403]

    # Sam opens DMs again and writes: the bot can reach Sam again, so the link comes back
    # and what Sam wrote goes to the conversation Sam was last sent.
    sandbox.close_dms(SAM, closed=False)
    await sandbox.user_dm(SAM, "Sorry, DMs were off")
    await world.wait(lambda: any("Welcome back" in t for t in world.texts(SAM)), "the answer to Sam")
    assert (link_status(world, SAM) or ("",))[0] == "active"
    conversation = lms.conversation_between(seed.mentor_id, seed.mentee1_id)
    await world.wait(lambda: lms_texts(lms, conversation, seed.mentee1_id) == ["Sorry, DMs were off"], "Sam's text")
    assert [r.status for r in world.posts_to(SAM) if "read me" in str(r.body)] == [403]  # the dead one stays dead
