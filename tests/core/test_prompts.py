"""Open reason prompts in the store (bridge.store.prompts)."""

from __future__ import annotations

from bridge.model import ChatIdentity, Platform, SentRef
from bridge.store.crypto import new_key
from bridge.store.prompts import Prompt, Prompts
from bridge.store.store import Store

ADA = ChatIdentity(Platform.TELEGRAM, "", "1")
BOB = ChatIdentity(Platform.TELEGRAM, "", "2")


async def test_a_prompt_is_opened_with_its_event_finished_answered_once_and_personal(store_url: str) -> None:
    store = await Store.open(store_url, new_key())
    try:
        prompts = Prompts(store)
        question = SentRef(room="1", message_id="77")
        await store.journal_event(Platform.TELEGRAM, "501", {"type": "ActionEvent"})
        await prompts.open(ADA, question, "acc:tsh:1", "501")
        assert await store.unfinished_events() == []  # the press is done: it is not resumed
        await prompts.open(ADA, question, "acc:tsh:1", "501")  # opened again (a redelivery): no error
        assert await prompts.take(BOB, "1", "77") is None  # somebody else's reply decides nothing
        assert await prompts.take(ADA, "1", "76") is None  # not a prompt
        assert await prompts.take(ADA, "1", "77") == Prompt("acc:tsh:1", answered=False)
        assert await prompts.take(ADA, "1", "77") == Prompt("acc:tsh:1", answered=True)
    finally:
        await store.close()
