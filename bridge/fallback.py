"""Preferences never route to nowhere: when a person's chat can no longer be reached (they
blocked the bot, removed the app), what was on its way there goes to their other linked
chats, with a notice saying why (``router.fallback_notice``). Items routed later fall back
in the router itself."""

from __future__ import annotations

import time

from bridge.router import KIND_WORDS, fallback_notice, lane_of
from bridge.store.records import DeliveryStatus, Link, NewDelivery
from bridge.store.store import Store

UNDELIVERED = (DeliveryStatus.DEAD, DeliveryStatus.PENDING)


async def fall_back(store: Store, lost: Link, now: float | None = None) -> int:
    """Queue, for the person's other active links, the items that ``lost`` took after its
    last successful send and could not deliver; returns how many were queued. Each item
    reaches each link once (the outbox keeps one row per item and link)."""
    others = [link for link in await store.links_of_user(lost.lms_user_id) if link.id != lost.id]
    if not others:
        return 0
    rows = await store.deliveries(link_id=lost.id)
    last_sent = max((d.id for d in rows if d.status == DeliveryStatus.SENT), default=0)
    stranded = [
        d for d in rows if d.id > last_sent and d.status in UNDELIVERED and d.payload.get("kind") in KIND_WORDS
    ]
    if not stranded:
        return 0
    platform = [lost.identity.platform.value]
    told = [fallback_notice(link, platform, time.time() if now is None else now) for link in others]
    copies = [
        NewDelivery(d.item_key, link.id, link.identity.platform, lane_of(link.identity), d.payload)
        for d in stranded
        for link in others
    ]
    return await store.enqueue(told + copies)
