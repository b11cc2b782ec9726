"""A linked group is read once per cycle, not once per member (issue 16), counted by the
sandbox LMS; one read still feeds the room and every member's private copy, except for a
member who muted the group in Pluto."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.app import build_pipeline
from bridge.config import load_settings
from bridge.lms.api import LmsApi
from bridge.lms.client import LmsClient
from bridge.model import ChatIdentity, Cursor, Platform, RoomAddress
from bridge.pipeline import Pipeline
from bridge.rooms.intake import RoomIntake
from bridge.store.crypto import new_key
from bridge.store.records import DeliveryStatus, RoomStatus
from bridge.store.store import Store
from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.lms.seed import DEMO_PASSWORD
from tests.lms_side import ws

MEMBERS = 30
ROOM = RoomAddress(Platform.TELEGRAM, "", "-100500", name="Cohort A chat")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'cost.db'}", new_key())
    yield opened
    await opened.close()


def group_reads(lms: SandboxLMS, mark: int, conversation_id: int) -> int:
    return sum(
        1
        for c in lms.calls[mark:]
        if c.function == "core_message_get_conversation_messages"
        and str(c.params.get("convid")) == str(conversation_id)
    )


async def _linked_group(lms: SandboxLMS, seed: DemoSeed, store: Store, members: int) -> tuple[list[int], int]:
    """``members`` new group members, each linked on Telegram; the group linked to ROOM by the
    first. Returns the people and the room link's id."""
    people = []
    for n in range(members):
        uid = lms.create_user(f"member{n}", DEMO_PASSWORD, "Member", str(n))
        lms.enrol(seed.course_id, uid)
        lms.add_group_member(seed.group_id, uid)
        people.append(uid)
        await store.save_link(
            ChatIdentity(Platform.TELEGRAM, "", str(uid)),
            lms_user_id=uid,
            lms_username=f"member{n}",
            lms_fullname=f"Member {n}",
            token=lms.issue_token(uid),
            room=str(uid),
            address=None,
        )
    lms.clock.freeze()
    linker = people[0]
    pending = await store.start_room_link(ROOM, linker, ChatIdentity(Platform.TELEGRAM, "", str(linker)))
    await store.update_room_link(
        pending.id,
        status=RoomStatus.ACTIVE,
        conversation_id=seed.group_conversation_id,
        conversation_name="Cohort A",
        reader_lms_user_id=linker,
        cursor=Cursor(lms.clock.now() - 1, frozenset()),
    )
    return people, pending.id


def _pipeline(lms: SandboxLMS, store: Store, client: LmsClient) -> Pipeline:
    settings = load_settings(None, lms={"url": lms.url, "retries": 0}, store={"token_key": new_key()})
    pipeline = build_pipeline(settings, store, client, rooms=RoomIntake(store, LmsApi(client)))
    pipeline.sweep_every = 0.0  # every person's listing is read fully each cycle: the worst case
    return pipeline


async def test_thirty_linked_members_cost_one_group_read_per_cycle(
    lms: SandboxLMS, seed: DemoSeed, store: Store
) -> None:
    _, room_link_id = await _linked_group(lms, seed, store, MEMBERS)
    client = LmsClient(lms.url, retries=0)
    try:
        pipeline = _pipeline(lms, store, client)
        await pipeline.poll_once()  # baselines
        lms.post_to_conversation(seed.mentor_id, seed.group_conversation_id, "Cohort news for all thirty")
        lms.clock.advance(2)  # the LMS holds back its current second (observed 5f)
        mark = len(lms.calls)
        cycles = 3
        for _ in range(cycles):
            await pipeline.poll_once()
        assert group_reads(lms, mark, seed.group_conversation_id) == cycles
        sent = [d for d in await store.deliveries(status=DeliveryStatus.PENDING) if "Cohort news" in d.payload["html"]]
        assert sum(1 for d in sent if d.room_link_id == room_link_id) == 1  # once into the room
        assert sorted(d.link_id for d in sent if d.room_link_id is None) == sorted(
            link.id for link in await store.active_links()
        )  # and one private copy each: nobody is in the room yet
    finally:
        await client.close()


async def test_a_member_who_muted_the_group_gets_no_private_copy(lms: SandboxLMS, seed: DemoSeed, store: Store) -> None:
    people, room_link_id = await _linked_group(lms, seed, store, 3)
    quiet = people[2]
    await ws(
        lms,
        lms.issue_token(quiet),
        "core_message_mute_conversations",
        userid=quiet,
        conversationids=[seed.group_conversation_id],
    )
    client = LmsClient(lms.url, retries=0)
    try:
        pipeline = _pipeline(lms, store, client)
        await pipeline.poll_once()  # baselines, and each member's listing (with their mute)
        lms.post_to_conversation(seed.mentor_id, seed.group_conversation_id, "Cohort news, muted for one")
        lms.clock.advance(2)
        await pipeline.poll_once()
        sent = [d for d in await store.deliveries(status=DeliveryStatus.PENDING) if "Cohort news" in d.payload["html"]]
        assert sum(1 for d in sent if d.room_link_id == room_link_id) == 1  # the shared room still has it
        quiet_links = {link.id for link in await store.links_of_user(quiet)}
        copies = [d.link_id for d in sent if d.room_link_id is None]
        assert len(copies) == 2 and not quiet_links & set(copies)  # the two others, not the muted one
    finally:
        await client.close()


async def _private_copies_of(store: Store, text: str) -> list[int]:
    """The link ids that got a private copy of the group message containing ``text``."""
    sent = await store.deliveries(status=DeliveryStatus.PENDING)
    return [d.link_id for d in sent if text in d.payload["html"] and d.room_link_id is None]


async def test_a_mute_holds_after_a_restart_and_an_unmute_lifts_it(
    lms: SandboxLMS, seed: DemoSeed, store: Store
) -> None:
    """The mute is learnt from the member's own listing, and a restarted bridge (or another
    replica) reads the linked group before it reads anyone's listing: it must know the mute
    already. Unmuted later, the member gets copies again."""
    people, _ = await _linked_group(lms, seed, store, 3)
    quiet = people[2]
    quiet_links = {link.id for link in await store.links_of_user(quiet)}
    token = lms.issue_token(quiet)
    await ws(lms, token, "core_message_mute_conversations", userid=quiet, conversationids=[seed.group_conversation_id])
    client = LmsClient(lms.url, retries=0)
    try:
        await _pipeline(lms, store, client).poll_once()  # baselines, and each member's listing (with the mute)
        restarted = _pipeline(lms, store, client)  # a new process: nothing of the first in memory
        lms.post_to_conversation(seed.mentor_id, seed.group_conversation_id, "Cohort news after a restart")
        lms.clock.advance(2)
        await restarted.poll_once()
        copies = await _private_copies_of(store, "Cohort news after a restart")
        assert len(copies) == 2 and not quiet_links & set(copies)

        await ws(
            lms, token, "core_message_unmute_conversations", userid=quiet, conversationids=[seed.group_conversation_id]
        )
        # The member's turn comes (a restarted bridge spreads its first reads over the gap):
        # their listing shows the mute lifted.
        await restarted.poll_user(quiet, await store.links_of_user(quiet))
        lms.post_to_conversation(seed.mentor_id, seed.group_conversation_id, "Cohort news once unmuted")
        lms.clock.advance(2)
        await _pipeline(lms, store, client).poll_once()
        copies = await _private_copies_of(store, "Cohort news once unmuted")
        assert len(copies) == 3 and quiet_links <= set(copies)
    finally:
        await client.close()
