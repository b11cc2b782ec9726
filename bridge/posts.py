"""What a delivery becomes on a platform: its posts (rendered, cut to the platform's limit,
buttons on the last) and, once sent, its message-map rows. Shared by the private lanes
(``bridge.outbox``) and the room lanes (``bridge.rooms.lanes``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.model import Platform, Post
from bridge.ports import Adapter
from bridge.render import render, render_with_plain
from bridge.router import actions_of
from bridge.store.records import Delivery, MapEntry

EMPTY_ITEM = "<p><i>(no text: open it in Pluto)</i></p>"


def render_post(payload: Mapping[str, Any], adapter: Adapter, room_for: int = 0) -> list[Post]:
    """The payload as the adapter's posts: rendered, cut to its limit (less ``room_for``,
    kept for what the adapter adds, such as an author's name), buttons on the last."""
    caps = adapter.capabilities
    limit = max(1, caps.max_text - room_for)
    # Parsed once for both the chunks and the plain fallback.
    chunks, fallback = render_with_plain(str(payload["html"]), caps.markup, limit, caps.measure)
    if not chunks:  # an item with no visible text (an image without alt text, say) still shows up
        chunks = render(EMPTY_ITEM, caps.markup, limit, caps.measure)
    actions = actions_of(payload)[: caps.max_actions]
    posts = [Post(text=chunk, fallback=fallback if len(chunks) == 1 else "") for chunk in chunks]
    posts[-1] = Post(text=posts[-1].text, fallback=posts[-1].fallback, actions=actions)
    return posts


def map_entries(
    delivery: Delivery, lms_user_id: int, platform: Platform, workspace: str, refs: list[dict[str, Any]]
) -> list[MapEntry]:
    """The message map rows of a sent delivery: one per chunk, each naming its item (so a
    reply to any copy finds what it answers)."""
    conversation_id = delivery.payload.get("conversation_id")
    return [
        MapEntry(
            delivery.item_key,
            delivery.link_id,
            lms_user_id,
            int(conversation_id) if conversation_id is not None else None,
            platform,
            workspace,
            r["room"],
            r["message_id"],
            r["thread"],
        )
        for r in refs
    ]
