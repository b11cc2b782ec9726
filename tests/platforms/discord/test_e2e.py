"""End to end on Discord: the real ``pluto-bridge run`` process (only Discord enabled), the
real discord.py inside it pointed at the Discord sandbox (real limits), the sandbox LMS.
Alerts, tasks and contact requests: test_alerts_tasks.py; throttling, drops, closed DMs: test_e2e_resilience.py.

Assertions are on what the person sees in their DM (the sandbox's stored messages and
recorded request bodies) and on what the LMS stores."""

from __future__ import annotations

import re

import pytest

from sandbox.discord import SandboxDiscord
from sandbox.lms import DemoSeed, SandboxLMS
from tests.platforms.discord.conftest import ALEX, SAM
from tests.platforms.discord.world import EPHEMERAL, DiscordWorld
from tests.support import lms_texts

pytestmark = pytest.mark.e2e


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
