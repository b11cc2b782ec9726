"""A held event (a line waiting for the person's pick) is handed only to the person who
wrote it: a button id forged with another person's event id takes nothing."""

from __future__ import annotations

from pathlib import Path

from bridge.journal import event_to_json
from bridge.model import ChatIdentity, MessageEvent, Platform
from bridge.store.crypto import new_key
from bridge.store.store import Store

ADA = ChatIdentity(Platform.TELEGRAM, "", "1")
BOB = ChatIdentity(Platform.TELEGRAM, "", "2")


async def test_a_held_event_goes_only_to_its_owner(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'e.db'}", new_key())
    try:
        held = MessageEvent(identity=ADA, event_id="701", room="1", text="for whom?")
        await store.journal_event(Platform.TELEGRAM, "701", event_to_json(held))
        await store.finish_event(Platform.TELEGRAM, "701", keep=True)
        assert await store.take_event(Platform.TELEGRAM, "701", BOB) is None  # Bob's forged button
        taken = await store.take_event(Platform.TELEGRAM, "701", ADA)
        assert taken is not None and taken[0]["text"] == "for whom?"
        assert await store.take_event(Platform.TELEGRAM, "701", ADA) is None  # once
    finally:
        await store.close()
