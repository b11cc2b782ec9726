"""Where a contact may be reached: only what they share with contacts, only on platforms
(and Slack workspaces) the viewer is on too, as a link opening a direct chat."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.inbound.sharing import chat_url, reach_of, set_share
from bridge.model import ChatIdentity, Platform
from bridge.store.crypto import new_key
from bridge.store.records import Link
from bridge.store.store import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 's.db'}", new_key())
    yield s
    await s.close()


async def linked(store: Store, identity: ChatIdentity, lms_id: int) -> Link:
    return await store.save_link(identity, lms_user_id=lms_id, lms_username=f"u{lms_id}", lms_fullname=f"U {lms_id}",
                                 token="t", room=identity.user_id, address=None)


def test_each_platform_opens_a_direct_chat() -> None:
    assert chat_url(ChatIdentity(Platform.SLACK, "T1", "U2")) == "https://app.slack.com/client/T1/U2"
    assert chat_url(ChatIdentity(Platform.TELEGRAM, "", "42")) == "tg://user?id=42"
    assert chat_url(ChatIdentity(Platform.DISCORD, "", "31")) == "https://discord.com/users/31"
    assert chat_url(ChatIdentity(Platform.TEAMS, "ten", "aad-1")) == "https://teams.microsoft.com/l/chat/0/0?users=aad-1"
    assert chat_url(ChatIdentity(Platform.CONSOLE, "", "me")) is None


async def test_shown_only_by_choice_and_in_the_same_workspace(store: Store) -> None:
    maya = 3
    await linked(store, ChatIdentity(Platform.SLACK, "T1", "UMAYA"), maya)
    sam_same = [await linked(store, ChatIdentity(Platform.SLACK, "T1", "USAM"), 4)]
    kim_other = [await linked(store, ChatIdentity(Platform.SLACK, "T2", "UKIM"), 5)]
    assert await reach_of(store, sam_same, maya) == []  # default: nobody
    prefs: dict[str, object] = {}
    assert set_share(prefs, "slack contacts") is None
    await store.set_preferences(maya, prefs)
    [reach] = await reach_of(store, sam_same, maya)
    assert (reach.label, reach.url) == ("on Slack", "https://app.slack.com/client/T1/UMAYA")
    assert await reach_of(store, kim_other, maya) == []  # another workspace: no way to open it
    assert set_share(prefs, "slack nobody") is None
    await store.set_preferences(maya, prefs)
    assert await reach_of(store, sam_same, maya) == []
    assert set_share(prefs, "console contacts") is not None  # nothing to share there
