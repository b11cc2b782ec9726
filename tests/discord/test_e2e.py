"""End to end on Discord: the real ``pluto-bridge run`` process (only Discord enabled), the
real discord.py inside it pointed at the Discord sandbox (real limits), the sandbox LMS.
Alerts, tasks and contact requests are in test_alerts_tasks.py.

Assertions are on what the person sees in their DM (the sandbox's stored messages and
recorded request bodies) and on what the LMS stores."""

from __future__ import annotations

import re
import sqlite3

import pytest

from sandbox.discord import SandboxDiscord
from sandbox.lms import DemoSeed, SandboxLMS
from tests.discord.conftest import ALEX, SAM
from tests.discord.world import EPHEMERAL, DiscordWorld

pytestmark = pytest.mark.e2e


def lms_texts(lms: SandboxLMS, conversation_id: int | None, author: int) -> list[str]:
    if conversation_id is None:
        return []
    return [m["text"] for m in lms.messages_in(conversation_id) if m["useridfrom"] == author]


async def test_link_through_slash_command_and_sign_in(world: DiscordWorld, sandbox: SandboxDiscord) -> None:
    interaction = await world.link(SAM, "mentee1")
    # The URL came as an ephemeral follow-up to the deferred, ephemeral /pluto link...
    callback = sandbox.interactions[interaction["id"]].callbacks[0]
    assert callback["type"] == 5 and int(callback["data"]["flags"]) & EPHEMERAL
    # ...and the confirmation as a DM, bold name and all, with mentions switched off.
    confirmation = world.dm_containing(SAM, "Linked to Pluto as")
    assert "Linked to Pluto as **Sam Mentee** \\(mentee1\\)" in confirmation["content"]
    assert confirmation["allowed_mentions"] == {"parse": []}
    # /pluto status now answers (ephemerally) with the link.
    status = await sandbox.user_slash(SAM, "status")
    await world.wait(lambda: bool(world.followups(status)), "the /pluto status answer")
    answer = world.followups(status)[0]
    assert "Linked to Pluto as **Sam Mentee**" in answer["content"] and int(answer["flags"]) & EPHEMERAL


async def test_both_directions(world: DiscordWorld, lms: SandboxLMS, seed: DemoSeed) -> None:
    await world.link(SAM, "mentee1")
    sent = lms.post_message(seed.mentor_id, seed.mentee1_id, "Hello Sam, how is module 1 going?")
    await world.wait(lambda: any("how is module 1 going" in t for t in world.texts(SAM)), "the mentor's message")
    shown = world.dm_containing(SAM, "how is module 1 going")["content"]
    assert shown.startswith("**Maya Mentor**")  # who wrote it, on top

    await world.dc.user_dm(SAM, "Going well, thanks Maya!")
    await world.wait(
        lambda: lms_texts(lms, sent["conversationid"], seed.mentee1_id) == ["Going well, thanks Maya!"],
        "the reply in the LMS conversation, as Sam",
    )


async def test_reply_routing_with_two_conversations(world: DiscordWorld, lms: SandboxLMS, seed: DemoSeed) -> None:
    await world.link(SAM, "mentee1")
    from_mentor = lms.post_message(seed.mentor_id, seed.mentee1_id, "Mentor question: ready for module 2?")
    from_alex = lms.post_message(seed.mentee2_id, seed.mentee1_id, "Alex here: lunch?")
    await world.wait(lambda: any("Alex here" in t for t in world.texts(SAM)), "both messages")
    mentor_dm = world.dm_containing(SAM, "Mentor question")
    alex_dm = world.dm_containing(SAM, "Alex here")
    assert mentor_dm["content"].startswith("**Maya Mentor**") and alex_dm["content"].startswith("**Alex Mentee**")
    mentor_conv, alex_conv = from_mentor["conversationid"], from_alex["conversationid"]

    # Discord replies (message_reference) pick the conversation, whichever came last.
    await world.dc.user_dm(SAM, "Yes, ready.", reply_to=mentor_dm["id"])
    await world.wait(lambda: lms_texts(lms, mentor_conv, seed.mentee1_id) == ["Yes, ready."], "reply to the mentor")
    await world.dc.user_dm(SAM, "Lunch sounds good.", reply_to=alex_dm["id"])
    await world.wait(lambda: lms_texts(lms, alex_conv, seed.mentee1_id) == ["Lunch sounds good."], "reply to Alex")
    await world.dc.user_dm(SAM, "Also: ready for the quiz.", reply_to=mentor_dm["id"])
    await world.wait(lambda: len(lms_texts(lms, mentor_conv, seed.mentee1_id)) == 2, "second reply to the mentor")
    # A plain message (no reply) goes to the current conversation: the one last answered.
    await world.dc.user_dm(SAM, "See you Friday.")
    await world.wait(lambda: len(lms_texts(lms, mentor_conv, seed.mentee1_id)) == 3, "the plain message")
    expected = ["Yes, ready.", "Also: ready for the quiz.", "See you Friday."]
    assert lms_texts(lms, mentor_conv, seed.mentee1_id) == expected
    assert lms_texts(lms, alex_conv, seed.mentee1_id) == ["Lunch sounds good."]


def _unescape_markdown(content: str) -> str:
    """What Discord displays for escaped markdown: backslash escapes and ZWSPs gone."""
    return re.sub(r"\\(.)", r"\1", content).replace("\u200b", "")


async def test_hostile_text_is_inert_both_ways(world: DiscordWorld, lms: SandboxLMS, seed: DemoSeed) -> None:
    await world.link(SAM, "mentee1")
    hostile = (
        f"<b>x</b> & <!channel> <@U1> <@{ALEX}> <@&123> @everyone @here <at>Boss</at> **bold** __u__ "
        "`code` ||spoiler|| # not a heading <https://evil|click> [link](https://evil.example)"
    )
    sent = lms.post_message(seed.mentor_id, seed.mentee1_id, hostile)
    await world.wait(lambda: any("Boss" in t for t in world.texts(SAM)), "the hostile message")
    [request] = [r for r in world.posts_to(SAM) if r.status == 200 and "Boss" in r.body["content"]]
    content = request.body["content"]
    assert request.body["allowed_mentions"] == {"parse": []}  # no pings, whatever the content says
    # Every character Discord could read as markup or a mention is escaped on the wire...
    assert re.search(r"(?<!\\)[<*_`|#\[\]()]", content.split("\n", 2)[-1]) is None, content
    assert "@everyone" not in content and "@here" not in content
    # ...so the person reads exactly what the mentor typed, under the mentor's bold name.
    assert _unescape_markdown(content) == f"**Maya Mentor**\n\n{hostile}"

    # The other way: what Sam types arrives in the LMS as plain text (format 2), literally;
    # a Discord mention becomes the person's name, a markdown escape is undone.
    await world.dc.user_dm(SAM, f"**not bold** <b>x</b> & @everyone <@{ALEX}> \\*literal\\* <script>alert(1)</script>")
    expected = "**not bold** <b>x</b> & @everyone @Alex *literal* <script>alert(1)</script>"
    await world.wait(lambda: lms_texts(lms, sent["conversationid"], seed.mentee1_id) == [expected], "Sam's text")
    [stored] = [m for m in lms.messages_in(sent["conversationid"]) if m["useridfrom"] == seed.mentee1_id]
    assert stored["textformat"] == 2


async def test_long_message_arrives_as_several_dms_in_order(
    world: DiscordWorld, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await world.link(SAM, "mentee1")
    words = [f"w{n:04d}" for n in range(650)]  # 3899 characters: within the LMS's 4096 bytes
    lms.post_message(seed.mentor_id, seed.mentee1_id, " ".join(words))
    await world.wait(lambda: any("w0649" in t for t in world.texts(SAM)), "the last part")
    shown = world.texts(SAM)[1:]  # after the link confirmation: the mentor's message
    parts = [t for t in shown if re.search(r"w\d{4}", t)]
    assert len(parts) >= 2 and all(len(p) <= 2000 for p in shown)
    assert shown[0].startswith("**Maya Mentor**")  # the author's name comes first
    assert re.findall(r"w\d{4}", " ".join(shown)) == words  # every word once, in order


async def test_429_on_one_dm_while_another_keeps_receiving(
    world: DiscordWorld, sandbox: SandboxDiscord, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await world.link(SAM, "mentee1")
    await world.link(ALEX, "mentee2")
    # Discord keeps answering 429 to Sam's DM channel until the test lifts it.
    throttle = sandbox.inject(429, method="POST", channel_id=sandbox.dm_channels[SAM], count=10**6, retry_after=0.5)
    for n in range(1, 4):
        lms.post_message(seed.mentor_id, seed.mentee1_id, f"to Sam {n}")
        lms.post_message(seed.mentor_id, seed.mentee2_id, f"to Alex {n}")
    await world.wait(lambda: sum("to Alex" in t for t in world.texts(ALEX)) == 3, "Alex's three messages")
    await world.wait(lambda: any(r.status == 429 for r in world.posts_to(SAM)), "a 429 for Sam's DM")
    assert not any("to Sam" in t for t in world.texts(SAM))  # Sam's lane waits; Alex's did not
    assert all(r.status == 200 for r in world.posts_to(ALEX))

    sandbox.injections.remove(throttle)
    await world.wait(lambda: sum("to Sam" in t for t in world.texts(SAM)) == 3, "Sam's messages after the 429s")
    assert [re.search(r"to Sam (\d)", t).group(1) for t in world.texts(SAM) if "to Sam" in t] == ["1", "2", "3"]  # type: ignore[union-attr]
    assert [re.search(r"to Alex (\d)", t).group(1) for t in world.texts(ALEX) if "to Alex" in t] == ["1", "2", "3"]  # type: ignore[union-attr]


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
