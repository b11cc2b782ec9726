"""Quiet hours over: what was held for a person goes out as one digest."""

from __future__ import annotations

import uuid
from collections import defaultdict

from bridge.model import ItemKind
from bridge.render import escape
from bridge.router import KIND_WORDS, lane_of
from bridge.store.records import NewDelivery
from bridge.store.store import Store


async def release_held(store: Store, now: float) -> int:
    """Quiet hours over: one digest per person of what was held; returns digests queued."""
    due = await store.due_held(now)
    by_link: dict[int, list[str]] = defaultdict(list)
    ids: list[int] = []
    for delivery in due:
        by_link[delivery.link_id].append(delivery.item_key)
        ids.append(delivery.id)
    digests = []
    for link_id, keys in by_link.items():
        link = await store.link_by_id(link_id)
        if link is None:
            continue
        lines = []
        for key in keys:
            item = await store.item(link.lms_user_id, key)
            if item is None or item.status != "open":
                continue
            label = KIND_WORDS.get(item.kind, item.kind)
            subject = escape(item.subject or "(no subject)")
            lines.append(f"<li><b>#{item.short_id}</b> {label}: {subject}</li>")
        if not lines:
            continue
        html = (
            f"<p><b>While your quiet hours were on, {len(lines)} item(s) arrived:</b></p><ul>{''.join(lines)}</ul>"
            "<p>Use <code>tasks</code> to see them and <code>accept</code>, <code>decline</code>, "
            "<code>dismiss</code> or <code>ack</code> with their numbers.</p>"
        )
        digests.append(
            NewDelivery(
                f"digest:{uuid.uuid4().hex}",
                link.id,
                link.identity.platform,
                lane_of(link.identity),
                {
                    "kind": ItemKind.NOTICE.value,
                    "html": html,
                    "conversation_id": None,
                    "peer_id": None,
                    "actions": [],
                },
            )
        )
    if ids:
        await store.mark_digested(ids, "quiet hours", digests)
    return len(digests)
