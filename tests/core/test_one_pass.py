"""One pass per inbound event: a decision's outcome and the event's processed mark are
written together, so a process that dies between handling and marking neither loses the
outcome nor doubles it when the journalled event is resumed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapters.telegram import TelegramAdapter
from bridge.app import build_pipeline
from bridge.config import load_settings
from bridge.inbound.commands import Commands
from bridge.inbound.core import Inbound
from bridge.inbound.people import People
from bridge.inbound.relay import Relay
from bridge.lms.api import LmsApi
from bridge.lms.client import LmsClient
from bridge.model import ActionEvent, MessageEvent, Platform
from bridge.profile import Profiles
from bridge.resume import Resumer
from bridge.store.crypto import new_key
from bridge.store.records import DeliveryStatus, MapEntry
from bridge.store.store import Store
from sandbox.lms import DemoSeed, SandboxLMS
from tests.lms_side import unread_notification_ids
from tests.support import link_sam, lms_texts, statements_of


async def test_a_crash_between_a_decision_and_its_mark_neither_loses_nor_doubles_it(
    lms: SandboxLMS, seed: DemoSeed, tmp_path: Path
) -> None:
    key = new_key()
    url = f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"
    settings = load_settings(None, lms={"url": lms.url}, store={"token_key": key})
    store = await Store.open(url, key)
    try:
        sam = (await link_sam(store, lms, seed)).identity
        async with LmsClient(settings.lms.url) as client:
            pipeline = build_pipeline(settings, store, client)
            await pipeline.poll_once()  # baseline
            essay = lms.notify(seed.mentee1_id, subject="Essay due", text="...", component="mod_assign")
            await pipeline.poll_once()
            [item] = await store.open_items(seed.mentee1_id)
            press = ActionEvent(
                identity=sam,
                event_id="9001",
                room="111",
                display_name="Sam",
                is_private=True,
                action_id=f"ack:{item.item_key}",
            )
            none: Any = None  # this event needs neither commands nor the relay
            inbound = Inbound(store, {}, none, none, pipeline.actions)
            assert await inbound.record(press)
            answer = await inbound.handle(press)
            # The process dies here: the runner's own processed mark is never written.
        assert answer is not None and "Done: Marked read by Sam Mentee" in answer.html
        assert essay not in await unread_notification_ids(lms, seed.mentee1_id)
    finally:
        await store.close()

    store = await Store.open(url, key)  # the restart
    try:
        unfinished = await store.unfinished_events()
        assert unfinished == []  # marked with the outcome: nothing to resume
        async with LmsClient(settings.lms.url) as client:
            pipeline = build_pipeline(settings, store, client)
            none = None
            await Resumer(store, Inbound(store, {}, none, none, pipeline.actions), none).run(unfinished)
        closed = await store.item(seed.mentee1_id, item.item_key)
        assert closed is not None and closed.outcome == "Marked read by Sam Mentee in Telegram"
        # The copy not sent yet was dropped with the outcome; no second answer was queued.
        queued = [(d.item_key, d.status) for d in await store.deliveries()]
        assert queued == [(item.item_key, DeliveryStatus.DEAD)]
    finally:
        await store.close()


async def test_a_press_reads_its_item_once_and_writes_its_processed_mark_once(
    lms: SandboxLMS, seed: DemoSeed, tmp_path: Path
) -> None:
    key = new_key()
    settings = load_settings(None, lms={"url": lms.url}, store={"token_key": key})
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}", key)
    try:
        sam = (await link_sam(store, lms, seed)).identity
        async with LmsClient(settings.lms.url) as client:
            pipeline = build_pipeline(settings, store, client)
            await pipeline.poll_once()  # baseline
            lms.notify(seed.mentee1_id, subject="Essay due", text="...", component="mod_assign")
            await pipeline.poll_once()
            [item] = await store.open_items(seed.mentee1_id)
            press = ActionEvent(
                identity=sam, event_id="9002", room="111", display_name="Sam", is_private=True,
                action_id=f"ack:{item.item_key}",
            )  # fmt: skip
            none: Any = None
            inbound = Inbound(store, {Platform.TELEGRAM: TelegramAdapter(token="1:abc")}, none, none, pipeline.actions)
            with statements_of(store) as statements:
                reply = await inbound(press)  # journalled, handled, answered: the adapter's whole path
        assert reply is not None and "Marked read by Sam Mentee" in reply.texts[0]
        item_reads = [s for s in statements if s.startswith("SELECT") and " FROM items " in f"{s} "]
        marks = [s for s in statements if s.startswith("UPDATE processed_events")]
        assert len(item_reads) == 1, item_reads  # read once, in the person's turn
        assert len(marks) == 1, marks  # with the outcome, not again afterwards
        assert await store.unfinished_events() == []
    finally:
        await store.close()


async def test_a_reply_reads_its_conversation_once(lms: SandboxLMS, seed: DemoSeed, tmp_path: Path) -> None:
    key = new_key()
    settings = load_settings(None, lms={"url": lms.url}, store={"token_key": key})
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}", key)
    try:
        sam = await link_sam(store, lms, seed)
        async with LmsClient(settings.lms.url) as client:
            pipeline = build_pipeline(settings, store, client)
            await pipeline.poll_once()  # baseline
            sent = lms.post_message(seed.mentor_id, seed.mentee1_id, "Ready for module 2?")
            await pipeline.poll_once()
            [queued] = await store.deliveries(link_id=sam.id)
            # Shown in Sam's chat as message 77 (the dispatcher's record, without a platform).
            copy = MapEntry(queued.item_key, sam.id, seed.mentee1_id, sent["conversationid"],
                            Platform.TELEGRAM, "", "111", "77", None)  # fmt: skip
            assert await store.mark_sending(queued.id)
            await store.mark_sent(queued, [{"room": "111", "message_id": "77", "thread": None}], [copy])
            reply = MessageEvent(
                identity=sam.identity, event_id="9003", room="111", display_name="Sam", is_private=True,
                text="Yes, ready.", reply_to="77",
            )  # fmt: skip
            api = LmsApi(client)
            relay = Relay(store, api, after_send=pipeline.read_soon)
            people = People(store, api, relay, Profiles())
            commands = Commands(store, api, None, pipeline.actions, Profiles(), None, people=people)  # type: ignore[arg-type]
            adapters = {Platform.TELEGRAM: TelegramAdapter(token="1:abc")}
            inbound = Inbound(store, adapters, commands, relay, pipeline.actions)
            with statements_of(store) as statements:
                assert await inbound(reply) is None  # sent: nothing to tell Sam
        assert lms_texts(lms, sent["conversationid"], seed.mentee1_id) == ["Yes, ready."]
        reads = [s for s in statements if s.startswith("SELECT") and " FROM conversations " in f"{s} "]
        assert len(reads) == 1, reads
    finally:
        await store.close()
