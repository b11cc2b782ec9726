"""Preferences never route to nowhere: when no chosen platform has an active link, items
go to the person's other linked chats, and the person is told (once a day while it lasts)."""

from __future__ import annotations

from bridge.model import ChatIdentity, Item, ItemKind, Platform
from bridge.router import route
from bridge.store.records import Link, LinkStatus

NOON = 2_000_000_000.0


def link(link_id: int, platform: Platform, status: LinkStatus = LinkStatus.ACTIVE) -> Link:
    return Link(link_id, ChatIdentity(platform, "", f"u{link_id}"), 7, "sam", "Sam", status, "", None, None, None,
                None, 0, token="t")


def message(key: str) -> Item:
    return Item(key, ItemKind.MESSAGE, 7, "<p>hello</p>", 0, author_name="Maya", conversation_id=3)


def test_an_inactive_chosen_link_falls_back_to_another_and_says_so_once() -> None:
    links = [link(1, Platform.TELEGRAM), link(2, Platform.DISCORD, LinkStatus.INACTIVE)]
    prefs = {"routes": {"message": ["discord"]}}
    told, first = route(message("m:1"), links, prefs, NOON)
    assert (told.link_id, first.link_id) == (1, 1) and first.item_key == "m:1"
    assert "should go to Discord, but that link is not active" in told.payload["html"]
    told_again, _second = route(message("m:2"), links, prefs, NOON + 60)
    assert told_again.item_key == told.item_key  # the outbox keeps one per (key, link): told once
    assert route(message("m:3"), links, prefs, NOON + 86_400)[0].item_key != told.item_key  # a day later, again


def test_a_chosen_active_link_gets_it_alone_and_nobody_is_told() -> None:
    links = [link(1, Platform.TELEGRAM), link(2, Platform.DISCORD)]
    [only] = route(message("m:1"), links, {"routes": {"message": ["discord"]}}, NOON)
    assert only.link_id == 2 and only.item_key == "m:1"
    assert route(message("m:1"), [link(2, Platform.DISCORD, LinkStatus.INACTIVE)], {}, NOON) == []  # nowhere to go
