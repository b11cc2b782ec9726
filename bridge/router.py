"""Who receives an item, where, and whether the LMS rules allow it. No network I/O.

The router turns an ``Item`` into ``NewDelivery`` rows: one per chat link of the
recipient that their preferences select. It writes the sender's name into the text,
keeps self-conversations private and skips muted conversations.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from bridge.model import Action, ChatIdentity, ConversationType, Item, ItemKind
from bridge.render import escape
from bridge.store.records import Link, NewDelivery


def lane_of(identity: ChatIdentity) -> str:
    """Deliveries to one person's chat share a lane: sent in order, paced together."""
    return f"{identity.platform.value}|{identity.workspace}|{identity.user_id}"


def item_html(item: Item) -> str:
    """The item as safe HTML, with who wrote it (and where, for groups) on top."""
    if item.kind is ItemKind.MESSAGE:
        header = f"<b>{escape(item.author_name)}</b>"
        if item.conversation_type == ConversationType.GROUP and item.conversation_name:
            header += f" · {escape(item.conversation_name)}"
        return f"<p>{header}</p>{item.html}"
    if item.subject:
        return f"<p><b>{escape(item.subject)}</b></p>{item.html}"
    return item.html


def payload_of(item: Item) -> dict[str, Any]:
    """What the outbox keeps for a delivery: enough to render and map it later."""
    return {
        "kind": item.kind.value,
        "html": item_html(item),
        "conversation_id": item.conversation_id,
        "peer_id": item.peer_id,
        "actions": [dataclasses.asdict(a) for a in item.actions],
    }


def actions_of(payload: Mapping[str, Any]) -> tuple[Action, ...]:
    return tuple(Action(**a) for a in payload.get("actions") or [])


def chosen_links(kind: ItemKind, links: Iterable[Link], preferences: Mapping[str, Any]) -> list[Link]:
    """The person's links that should receive this kind of item.

    ``preferences["routes"][kind]`` lists platforms; without it every active link gets it.
    """
    active = [link for link in links if link.active]
    routes = (preferences.get("routes") or {}).get(kind.value)
    if not routes:
        return active
    return [link for link in active if link.identity.platform.value in routes]


def route(item: Item, links: Iterable[Link], preferences: Mapping[str, Any]) -> list[NewDelivery]:
    """Deliveries for one item, or none when the LMS rules or preferences say so."""
    if item.kind is ItemKind.MESSAGE:
        if item.conversation_type == ConversationType.SELF or item.muted:
            return []  # notes to self stay private; muted conversations never ping (domain 6.8, 6.10)
    payload = payload_of(item)
    return [
        NewDelivery(item.key, link.id, link.identity.platform, lane_of(link.identity), payload)
        for link in chosen_links(item.kind, links, preferences)
    ]


def notice(link: Link, html: str, key: str | None = None) -> NewDelivery:
    """A message from the bridge itself to one link (link confirmed, sign-in expired)."""
    payload = {"kind": ItemKind.NOTICE.value, "html": html, "conversation_id": None, "peer_id": None, "actions": []}
    return NewDelivery(key or f"notice:{uuid.uuid4().hex}", link.id, link.identity.platform, lane_of(link.identity), payload)
