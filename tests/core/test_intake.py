"""Intake against the sandbox LMS on a frozen clock: inclusive watermarks, same-second
messages, held-back current second, nothing lost and nothing doubled."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bridge.lms.api import LmsApi
from bridge.lms.client import LmsClient
from bridge.lms.intake import BASELINE, MessageIntake, advance
from bridge.model import Cursor, ItemKind
from sandbox.lms import DemoSeed, SandboxLMS

T0 = 1_800_000_000


@pytest.fixture
async def intake(lms: SandboxLMS) -> AsyncIterator[MessageIntake]:
    async with LmsClient(lms.url) as client:
        yield MessageIntake(LmsApi(client))


class Reader:
    """Polls like the pipeline does, keeping cursors between polls; like the store, it
    queues each item (by key) once."""

    def __init__(self, intake: MessageIntake, token: str, userid: int) -> None:
        self.intake, self.token, self.userid = intake, token, userid
        self.cursors: dict[str, Cursor] = {}
        self.seen: list[str] = []
        self.keys: set[str] = set()

    async def baseline(self) -> None:
        self.cursors.update((await self.intake.baseline(self.token, self.userid)).cursors)

    async def poll(self) -> list[str]:
        batch = await self.intake.poll(self.token, self.userid, self.cursors)
        self.cursors.update(batch.cursors)
        new = [item for item in batch.items if item.key not in self.keys]
        self.keys.update(item.key for item in new)
        texts = [item.html for item in new]
        self.seen.extend(texts)
        return texts


def test_advance_keeps_ids_of_the_newest_second() -> None:
    cursor = advance(Cursor(10, frozenset({1})), [(10, 2), (9, 3)])
    assert cursor == Cursor(10, frozenset({1, 2}))
    assert advance(cursor, [(11, 5), (11, 4)]) == Cursor(11, frozenset({4, 5}))


async def test_same_second_messages_are_neither_lost_nor_doubled(
    lms: SandboxLMS, seed: DemoSeed, intake: MessageIntake
) -> None:
    lms.clock.freeze(T0)
    reader = Reader(intake, lms.issue_token(seed.mentee1_id), seed.mentee1_id)
    await reader.baseline()
    lms.post_message(seed.mentor_id, seed.mentee1_id, "one")
    lms.post_message(seed.mentor_id, seed.mentee1_id, "two")
    lms.clock.advance(1)
    assert await reader.poll() == ["<p>one</p>", "<p>two</p>"]
    # Another message in the same second as the watermark, after the poll.
    lms.post_message(seed.mentor_id, seed.mentee1_id, "three")  # at T0+1, the watermark's second
    # Reading the messages holds back the current second (timefrom caps at now-1), the
    # conversation list does not: its latest message goes to chat at once (issue 18).
    assert await reader.poll() == ["<p>three</p>"]
    lms.clock.advance(1)
    assert await reader.poll() == []  # read again with its second, queued once
    lms.post_message(seed.mentor_id, seed.mentee1_id, "four")
    lms.post_message(seed.mentee2_id, seed.mentee1_id, "five")  # a new conversation: read from timefrom 0
    lms.clock.advance(1)
    assert await reader.poll() == ["<p>four</p>", "<p>five</p>"]
    assert await reader.poll() == []
    # Two in the LMS's current second: the list shows only the later one, which must not
    # go ahead of the earlier; both come, in order, once the second has passed.
    lms.post_message(seed.mentor_id, seed.mentee1_id, "six")
    lms.post_message(seed.mentor_id, seed.mentee1_id, "seven")
    assert await reader.poll() == []
    lms.clock.advance(1)
    assert await reader.poll() == ["<p>six</p>", "<p>seven</p>"]
    assert reader.seen == [f"<p>{n}</p>" for n in ("one", "two", "three", "four", "five", "six", "seven")]


async def test_baseline_skips_history_and_own_messages_are_not_relayed(
    lms: SandboxLMS, seed: DemoSeed, intake: MessageIntake
) -> None:
    lms.clock.freeze(T0)
    lms.post_message(seed.mentor_id, seed.mentee1_id, "old news")
    lms.clock.advance(5)
    reader = Reader(intake, lms.issue_token(seed.mentee1_id), seed.mentee1_id)
    await reader.baseline()
    assert reader.cursors[BASELINE].watermark == T0
    lms.post_message(seed.mentee1_id, seed.mentor_id, "my own words")
    lms.post_message(seed.mentor_id, seed.mentee1_id, "fresh")
    lms.clock.advance(1)
    assert await reader.poll() == ["<p>fresh</p>"]


async def test_group_messages_carry_conversation_and_author(
    lms: SandboxLMS, seed: DemoSeed, intake: MessageIntake
) -> None:
    lms.clock.freeze(T0)
    reader = Reader(intake, lms.issue_token(seed.mentee1_id), seed.mentee1_id)
    await reader.baseline()
    lms.post_to_conversation(seed.mentee2_id, seed.group_conversation_id, "hi group")
    lms.clock.advance(1)
    batch = await intake.poll(reader.token, seed.mentee1_id, reader.cursors)
    [item] = batch.items
    assert (item.kind, item.conversation_id, item.conversation_type) == (
        ItemKind.MESSAGE,
        seed.group_conversation_id,
        2,
    )
    assert (item.author_name, item.conversation_name) == ("Alex Mentee", "Cohort A")


async def test_muted_conversation_items_are_marked(lms: SandboxLMS, seed: DemoSeed, intake: MessageIntake) -> None:
    lms.clock.freeze(T0)
    token = lms.issue_token(seed.mentee1_id)
    reader = Reader(intake, token, seed.mentee1_id)
    await reader.baseline()
    await intake.api.client.call(
        token,
        "core_message_mute_conversations",
        userid=seed.mentee1_id,
        conversationids=[seed.group_conversation_id],
    )
    lms.post_to_conversation(seed.mentor_id, seed.group_conversation_id, "shh")
    lms.clock.advance(1)
    batch = await intake.poll(token, seed.mentee1_id, reader.cursors)
    assert [i.muted for i in batch.items] == [True]
