"""What the people commands remember per link (bridge.store.people)."""

from __future__ import annotations

from pathlib import Path

from bridge.model import ChatIdentity, Platform
from bridge.store.crypto import new_key
from bridge.store.people import PeopleMemory, PeopleState, Target
from bridge.store.store import Store

SAM = ChatIdentity(Platform.TELEGRAM, "", "111")


async def test_the_list_and_the_failed_to_are_kept_apart_and_go_with_the_link(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", new_key())
    try:
        link = await store.save_link(
            SAM, lms_user_id=4, lms_username="mentee1", lms_fullname="Sam Mentee", token="t", room="111", address=None
        )
        memory = PeopleMemory(store)
        assert await memory.state(link.id) == PeopleState()
        listed = [Target(None, 7, "Maya Lee"), Target(11, 3, "Maya Mentor")]
        await memory.listed(link.id, listed)
        await memory.failed(link.id, "Zebulon")
        assert await memory.state(link.id) == PeopleState(tuple(listed), "Zebulon")
        await memory.failed(link.id, None)  # a choice made: the list stays
        assert await memory.state(link.id) == PeopleState(tuple(listed), None)
        await store.delete_link(SAM)  # unlinking forgets whom they looked up
        assert await memory.state(link.id) == PeopleState()
    finally:
        await store.close()
