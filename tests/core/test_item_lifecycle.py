"""Items handled in the LMS or expired get every chat copy retired; the router's rules."""

from __future__ import annotations

import datetime as dt

from bridge.actions import EXPIRY_SECONDS, ItemActions, buttons, parse_action
from bridge.app import build_pipeline
from bridge.config import load_settings
from bridge.lms.api import LmsApi, NotificationApi
from bridge.lms.client import LmsClient
from bridge.model import ChatIdentity, Item, ItemKind, Platform
from bridge.router import lane_of, quiet_until, route
from bridge.store.crypto import new_key
from bridge.store.records import DeliveryStatus, ItemRow, Link, LinkStatus, MapEntry, NewDelivery
from bridge.store.store import Store


async def linked(store: Store, platform: Platform, user: str) -> Link:
    return await store.save_link(
        ChatIdentity(platform, "", user),
        lms_user_id=7,
        lms_username="sam",
        lms_fullname="Sam",
        token="t",
        room=user,
        address=None,
    )


async def test_expired_and_lms_handled_items_retire_every_copy(store: Store) -> None:
    tg, console = await linked(store, Platform.TELEGRAM, "111"), await linked(store, Platform.CONSOLE, "sam")
    now = 2_000_000_000
    old = ItemRow("tot:1", "task", "Old booking", None, "<p>x</p>", now - EXPIRY_SECONDS - 60, 1, {})
    done = ItemRow("tot:2", "task", "Decided in Pluto", None, "<p>y</p>", now - 60, 2, {})
    still = ItemRow("tot:3", "task", "Still open", None, "<p>z</p>", now - 60, 3, {})
    await store.commit_intake(7, {}, [], (), [old, done, still])
    for row in (old, done, still):  # each was delivered to both platforms
        for link in (tg, console):
            await store.enqueue([_delivery(row.item_key, link)])
            [delivery] = [d for d in await store.deliveries(link_id=link.id) if d.item_key == row.item_key]
            message_id = f"{row.item_key}@{link.id}"
            ref = {"room": link.room, "message_id": message_id, "thread": None}
            await store.mark_sent(
                delivery,
                [ref],
                [
                    MapEntry(
                        row.item_key,
                        link.id,
                        7,
                        None,
                        link.identity.platform,
                        "",
                        str(link.room),
                        message_id,
                        None,
                    )
                ],
            )
    async with LmsClient("http://127.0.0.1:9") as client:  # reconcile reads nothing from the LMS
        actions = ItemActions(store, LmsApi(client), NotificationApi(client), lambda t: None, "local_pluto_task_action")
        closed = await actions.reconcile(7, open_keys={"tot:1", "tot:3"}, window_start=0, now=now)
    assert closed == 2
    states = {i.item_key: i.status for i in await store.open_items(7)}
    assert states == {"tot:3": "open"}
    expired, handled = await store.item(7, "tot:1"), await store.item(7, "tot:2")
    assert expired is not None and expired.outcome.startswith("Expired")
    assert handled is not None and handled.outcome == "Handled in Pluto"
    edits = [d for d in await store.deliveries(status=DeliveryStatus.PENDING) if d.payload.get("kind") == "edit"]
    assert len(edits) == 4  # two items x two platforms
    assert {d.platform for d in edits} == {Platform.TELEGRAM, Platform.CONSOLE}
    assert all("<i>" in d.payload["html"] for d in edits)


def _delivery(key: str, link: Link) -> NewDelivery:
    from bridge.router import lane_of
    from bridge.store.records import NewDelivery

    return NewDelivery(
        key,
        link.id,
        link.identity.platform,
        lane_of(link.identity),
        {"kind": "task", "html": "<p>t</p>", "conversation_id": None, "peer_id": None, "actions": []},
    )


def test_buttons_per_kind() -> None:
    alert = buttons(ItemKind.ALERT, "ntf:1", "https://pluto/x", {})
    assert [a.label for a in alert] == ["Mark read", "Open in Pluto"] and alert[1].url == "https://pluto/x"
    task = buttons(ItemKind.TASK, "tot:9", None, {"canaccept": True, "acceptbutton": "Approve", "needsreason": True})
    assert [(a.label, a.needs_reason) for a in task] == [
        ("Approve", True),
        ("Reject", True),
        ("Dismiss", False),
    ]
    assert [a.label for a in buttons(ItemKind.TASK, "tot:9", None, {})] == ["Dismiss"]  # no workflow: no decision
    accept_only = buttons(ItemKind.TASK, "tot:9", None, {"canaccept": True, "canreject": False})
    assert [a.label for a in accept_only] == ["Accept", "Dismiss"]  # Totara says it cannot be rejected
    assert [a.label for a in buttons(ItemKind.CONTACT_REQUEST, "ntf:2", None, {})] == ["Accept", "Decline"]
    assert all(len(a.id.encode()) <= 64 for a in task)  # Telegram's callback_data cap
    assert parse_action("acc:tot:9") == ("acc", "tot:9") and parse_action("url:x") is None


def test_quiet_hours_cross_midnight_and_urgent_tasks_pass() -> None:
    tz = dt.UTC
    prefs = {"quiet": {"start": "22:00", "end": "07:00", "tz": "UTC"}}
    late = dt.datetime(2026, 11, 23, 23, 15, tzinfo=tz).timestamp()
    morning = dt.datetime(2026, 11, 24, 7, 0, tzinfo=tz).timestamp()
    assert quiet_until(prefs, late) == morning
    assert quiet_until(prefs, dt.datetime(2026, 11, 24, 12, 0, tzinfo=tz).timestamp()) is None
    link = Link(
        1,
        ChatIdentity(Platform.CONSOLE, "", "sam"),
        7,
        "sam",
        "Sam",
        LinkStatus.ACTIVE,
        "",
        None,
        None,
        None,
        None,
        0,
        token="t",
    )
    task = Item("tot:1", ItemKind.TASK, 7, "<p>x</p>", 0, data={"component": "totara_message", "eventtype": "task"})
    [held] = route(task, [link], prefs, late)
    assert held.held_until == morning
    [urgent] = route(Item("tot:2", ItemKind.TASK, 7, "<p>x</p>", 0, urgent=True), [link], prefs, late)
    assert urgent.held_until is None
    assert route(task, [link], {"lms_disableall": True}, late) == []
    assert route(task, [link], {"types_off": ["totara_message/task"]}, late) == []


async def test_quiet_hours_ending_release_one_digest_of_what_was_held(store: Store) -> None:
    link = await linked(store, Platform.TELEGRAM, "111")
    ends = 2_000_000_000.0
    rows = [
        ItemRow("ntf:1", "alert", "Program due", None, "<p>a</p>", 1, 1, {}),
        ItemRow("ntf:2", "task", "Approve booking", None, "<p>b</p>", 2, 2, {}),
    ]
    held = [
        NewDelivery(r.item_key, link.id, Platform.TELEGRAM, lane_of(link.identity), {"kind": r.kind}, held_until=ends)
        for r in rows
    ]
    await store.commit_intake(7, {}, held, (), rows)
    settings = load_settings(None, lms={"url": "http://127.0.0.1:9"}, store={"token_key": new_key()})
    async with LmsClient(settings.lms.url) as client:  # releasing reads nothing from the LMS
        pipeline = build_pipeline(settings, store, client)
        assert await pipeline.release_held(now=ends - 1) == 0
        assert await pipeline.release_held(now=ends + 1) == 1
        assert await pipeline.release_held(now=ends + 2) == 0  # released once
    [digest] = await store.deliveries(status=DeliveryStatus.PENDING)
    assert digest.item_key.startswith("digest:")
    assert "2 item(s) arrived" in digest.payload["html"]
    assert "Program due" in digest.payload["html"] and "Approve booking" in digest.payload["html"]
    assert {d.item_key for d in await store.deliveries(status=DeliveryStatus.DIGESTED)} == {"ntf:1", "ntf:2"}
