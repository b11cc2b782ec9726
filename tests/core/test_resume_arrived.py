"""After a restart, whether a chat message the bridge was sending had reached Pluto
(``Relay.arrived``, ``bridge.lms.sent.find_sent``), asked of the sandbox LMS, which holds
back the messages of its current second from a read with ``timefrom`` as Moodle does
(moodle-4.5-observed.md item 5)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.inbound.relay import Relay
from bridge.lms.api import LmsApi
from bridge.lms.client import LmsClient
from bridge.lms.sent import find_sent
from bridge.model import MessageEvent
from bridge.store.crypto import new_key
from bridge.store.records import Link
from bridge.store.store import Store
from sandbox.lms import DemoSeed, SandboxLMS
from tests.support import link_sam

WORDS = "see you at the workshop"


@pytest.fixture
async def sam(lms: SandboxLMS, seed: DemoSeed, tmp_path: Path) -> AsyncIterator[tuple[Relay, Link]]:
    """Sam linked, his conversation with Maya his current one; yields a relay on the sandbox
    LMS and his link."""
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}", new_key())
    try:
        linked = await link_sam(store, lms, seed)
        conversation_id = int(lms.post_message(seed.mentor_id, seed.mentee1_id, "hello Sam")["conversationid"])
        await store.set_current(linked.id, conversation_id, seed.mentor_id)
        link = await store.link_by_id(linked.id)
        assert link is not None
        async with LmsClient(lms.url) as client:
            yield Relay(store, LmsApi(client)), link
    finally:
        lms.clock.unfreeze()
        await store.close()


def said(link: Link, text: str) -> MessageEvent:
    return MessageEvent(identity=link.identity, event_id="7001", room=link.room or "", is_private=True, text=text)


async def test_a_message_of_pluto_s_current_second_is_found(
    sam: tuple[Relay, Link], lms: SandboxLMS, seed: DemoSeed
) -> None:
    relay, link = sam
    lms.clock.freeze()
    since = float(lms.clock.now())
    assert not await relay.arrived(link, said(link, WORDS), since)
    lms.post_message(seed.mentee1_id, seed.mentor_id, WORDS)  # reached Pluto, in this very second
    assert await relay.arrived(link, said(link, WORDS), since)


async def test_the_same_words_sent_long_before_do_not_count(
    sam: tuple[Relay, Link], lms: SandboxLMS, seed: DemoSeed
) -> None:
    relay, link = sam
    lms.clock.freeze(lms.clock.now() - 3600)
    lms.post_message(seed.mentee1_id, seed.mentor_id, WORDS)  # an hour before the crash
    lms.clock.advance(3600)
    assert not await relay.arrived(link, said(link, WORDS), float(lms.clock.now()))


async def test_found_behind_more_than_the_newest_window(
    sam: tuple[Relay, Link], lms: SandboxLMS, seed: DemoSeed
) -> None:
    """Maya wrote a lot after it (more than the newest messages read first): still found."""
    relay, link = sam
    lms.clock.freeze()
    since = float(lms.clock.now())
    lms.post_message(seed.mentee1_id, seed.mentor_id, WORDS)
    lms.clock.advance(1)
    for n in range(60):
        lms.post_message(seed.mentor_id, seed.mentee1_id, f"reply {n}")
    lms.clock.advance(1)
    assert await relay.arrived(link, said(link, WORDS), since)


async def test_a_room_reply_is_found_under_the_quote_line_the_bridge_put_on_top(
    sam: tuple[Relay, Link], lms: SandboxLMS, seed: DemoSeed
) -> None:
    relay, link = sam
    conv = seed.group_conversation_id
    since = float(lms.clock.now())
    lms.post_to_conversation(seed.mentee2_id, conv, "Thanks!")  # the same words from Alex
    lms.post_to_conversation(seed.mentee1_id, conv, "Thanks! See you")
    assert await find_sent(relay.api, link.token, link.lms_user_id, conv, "Thanks!", since) is None
    lms.post_to_conversation(seed.mentee1_id, conv, "> Maya Mentor: Welcome, everyone\nThanks!")
    found = await find_sent(relay.api, link.token, link.lms_user_id, conv, "Thanks!", since)
    assert found is not None and found.useridfrom == seed.mentee1_id
