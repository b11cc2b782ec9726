"""Helpers for the end-to-end tests of alerts, tasks and contact requests on Discord: what
Sam sees in his DM with the bot and in the answers to his interactions, and what Pluto stores."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sandbox.discord import SandboxDiscord
from sandbox.lms import DemoSeed, SandboxLMS
from tests.lms_side import ws
from tests.platforms.discord.conftest import SAM
from tests.platforms.discord.world import EPHEMERAL, DiscordWorld

DEFERRED_UPDATE, DEFERRED_ANSWER, MODAL = 6, 5, 9
LINK_STYLE, PRIMARY, DANGER = 5, 1, 4




async def open_totara(lms: SandboxLMS, userid: int, kind: str) -> list[str]:
    """Subjects of the person's undismissed Totara tasks or alerts (``kind``), as Pluto lists them."""
    data = await ws(lms, lms.issue_token(userid), "local_pluto_get_tasks", type=kind)
    return [t["subject"] for t in data["tasks"]]


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The message's buttons by label, across its action rows."""
    return {b["label"]: b for row in message.get("components") or [] for b in row["components"]}


def edits_of(dc: SandboxDiscord, message: dict[str, Any]) -> list[dict[str, Any]]:
    """Bodies of the successful edits of one bot message (``PATCH /channels/../messages/..``)."""
    path = f"/channels/{message['channel_id']}/messages/{message['id']}"
    return [r.body for r in dc.requests_to("PATCH", path) if r.status == 200]


def unescaped(text: str) -> str:
    """Discord markdown as the person reads it: backslash escapes gone."""
    return re.sub(r"\\(.)", r"\1", text)


async def answer_to(world: DiscordWorld, interaction: dict[str, Any], needle: str) -> dict[str, Any]:
    """The follow-up shown for ``interaction`` that contains ``needle``; it must be ephemeral."""
    await world.wait(lambda: any(needle in m["content"] for m in world.followups(interaction)),
                     f"an answer with {needle!r}", within=30)
    found = next(m for m in world.followups(interaction) if needle in m["content"])
    assert int(found["flags"]) & EPHEMERAL, "answers to an interaction are for the person only"
    return found


async def arrival(world: DiscordWorld, needle: str) -> dict[str, Any]:
    """Wait for the one DM to Sam containing ``needle``; return it."""
    await world.wait(lambda: any(needle in t for t in world.texts(SAM)), f"the DM with {needle!r}", within=30)
    return world.dm_containing(SAM, needle)


async def retired(world: DiscordWorld, needle: str, outcome: str) -> dict[str, Any]:
    """Wait until the DM with ``needle`` shows ``outcome`` with no buttons left; return it."""
    def done() -> bool:
        message = world.dm_containing(SAM, needle)
        return outcome in message["content"] and not message.get("components")

    await world.wait(done, f"{needle!r} retired with {outcome!r}", within=30)
    return world.dm_containing(SAM, needle)


def short_id(answer: str, kind: str, subject: str) -> str:
    """The number ``/pluto tasks`` gives an item (``**#3** alert: Subject`` in Discord markdown)."""
    match = re.search(r"#(\d+)\W*\s+" + kind + r": " + re.escape(subject), answer)
    assert match, f"no {kind} {subject!r} in {answer!r}"
    return match.group(1)


@asynccontextmanager
async def totara_site_world(
    sandbox: SandboxDiscord, tmp_path: Path, *, task_extension: bool = True, poll_interval: float | None = None
) -> AsyncIterator[tuple[DiscordWorld, DemoSeed]]:
    """The bridge on its own Totara-mode site (tasks with workflows, and the task-action
    extension unless ``task_extension`` is False), Sam on Discord and linked."""
    site = SandboxLMS(mode="totara", task_extension=task_extension)
    seed = site.seed_demo()
    await site.start()
    sandbox.add_user(SAM, "Sam")
    settings = {"lms": {"poll_interval": poll_interval}} if poll_interval is not None else {}
    world = DiscordWorld(sandbox, site, tmp_path, settings)
    try:
        await world.start()
        await world.link(SAM, "mentee1")
        yield world, seed
    finally:
        await world.stop()
        await site.stop()
