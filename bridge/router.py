"""Who receives an item, where, and whether the LMS rules allow it. No network I/O.

The router turns an ``Item`` into ``NewDelivery`` rows: one per chat link of the
recipient that their preferences select. It writes the sender's name into the text,
keeps self-conversations private and skips muted conversations.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
        "lms_time": item.time,  # for the LMS-to-chat latency metric
        # For the "could not be delivered" notice, should rendering or sending fail for good.
        "author": item.author_name if item.kind is ItemKind.MESSAGE else "",
        "url": item.url,
    }


# How each kind of item is named to people.
KIND_WORDS = {"message": "message", "alert": "alert", "task": "task", "contact_request": "contact request"}


def unshowable_notice(
    payload: Mapping[str, Any], reason: str = "", lms_url: str | None = None
) -> tuple[str, tuple[Action, ...]] | None:
    """What the person is told when an item could not be rendered or sent for good ("1
    message from Maya could not be delivered here (reason)."), with an Open in Pluto button
    to the item, else its conversation, else ``lms_url``; None for the bridge's own notices
    and edits, which are not items (telling about those could loop)."""
    kind = str(payload.get("kind") or "")
    if kind not in KIND_WORDS:
        return None
    author = str(payload.get("author") or "")
    what = f"1 {KIND_WORDS[kind]}" + (f" from <b>{escape(author)}</b>" if author else "")
    why = f" ({escape(reason)})" if reason else ""
    url = payload.get("url") or next((a.url for a in actions_of(payload) if a.url), None)
    conversation_id = payload.get("conversation_id")
    if not url and lms_url and conversation_id is not None:
        url = f"{lms_url}/message/index.php?convid={int(conversation_id)}"
    url = url or lms_url
    opens = (Action(f"url:undelivered:{conversation_id or kind}", "Open in Pluto", url=str(url)),) if url else ()
    return f"<p>{what} could not be delivered here{why}.</p>", opens


def told_unshowable(
    link: Link, payload: Mapping[str, Any], reason: str = "", lms_url: str | None = None, key: str | None = None
) -> NewDelivery | None:
    """The notice of ``unshowable_notice`` as a delivery to ``link`` (None when there is
    nothing to tell)."""
    found = unshowable_notice(payload, reason, lms_url)
    if found is None:
        return None
    html_text, opens = found
    told = notice(link, html_text, key=key)
    told.payload["actions"] = [dataclasses.asdict(a) for a in opens]
    return told


def actions_of(payload: Mapping[str, Any]) -> tuple[Action, ...]:
    return tuple(Action(**a) for a in payload.get("actions") or [])


def chosen_routes(kind: ItemKind, preferences: Mapping[str, Any]) -> list[str]:
    """The platforms the person chose for this kind of item (none: every linked chat).

    ``preferences["routes"][kind]`` lists platforms (kinds: message, alert, task); alerts
    and tasks go where the person's messages go unless they chose otherwise."""
    route_kind = ItemKind.ALERT if kind is ItemKind.CONTACT_REQUEST else kind
    table = preferences.get("routes") or {}
    return list(table.get(route_kind.value) or table.get(ItemKind.MESSAGE.value) or [])


def _chosen(kind: ItemKind, links: Iterable[Link], preferences: Mapping[str, Any]) -> tuple[list[Link], bool]:
    active = [link for link in links if link.active]
    routes = chosen_routes(kind, preferences)
    if not routes:
        return active, False
    picked = [link for link in active if link.identity.platform.value in routes]
    return (picked, False) if picked else (active, bool(active))


def fallback_notice(link: Link, routes: list[str], now: float) -> NewDelivery:
    """Tells the person, once a day while it lasts, that the platforms they chose cannot be
    reached and their Pluto items come to ``link``'s chat meanwhile."""
    names = ", ".join(r.capitalize() for r in routes)
    day = dt.datetime.fromtimestamp(now, dt.UTC).date().isoformat()
    html_text = (
        f"<p>Your Pluto items should go to {escape(names)}, but that link is not active (the platform could not "
        "reach you there, or you unlinked it). They come here meanwhile. Write to the bot there to make it "
        "active again, or choose again with <code>prefs messages PLATFORM</code>.</p>"
    )
    return notice(link, html_text, key=f"notice:fallback:{'+'.join(sorted(routes))}:{day}")


NOTIFICATION_KINDS = (ItemKind.ALERT, ItemKind.TASK, ItemKind.CONTACT_REQUEST)


def provider_of(item: Item) -> str | None:
    """The notification type of an item (``mod_forum_posts``, as Pluto's preference key
    names it), the key of per-type preferences."""
    component, event = item.data.get("component"), item.data.get("eventtype")
    return f"{component}_{event}" if component and event else None


def types_switched_off(preferences: Mapping[str, Any]) -> set[str]:
    """The types the person switched off for chat (``prefs off``); ``mod_forum/posts`` as
    typed before Pluto's own keys were used reads as ``mod_forum_posts``."""
    return {str(t).replace("/", "_") for t in preferences.get("types_off") or ()}


def _minutes(text: str) -> int:
    hours, _, minutes = text.partition(":")
    return int(hours) * 60 + int(minutes or 0)


def quiet_until(preferences: Mapping[str, Any], now: float) -> float | None:
    """When the person's quiet hours end, if ``now`` falls inside them; else None.

    ``preferences["quiet"] = {"start": "22:00", "end": "07:00", "tz": "Europe/Paris"}``.
    """
    quiet = preferences.get("quiet")
    if not quiet:
        return None
    try:
        zone = ZoneInfo(str(quiet.get("tz") or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = dt.datetime.fromtimestamp(now, zone)
    start, end = _minutes(quiet["start"]), _minutes(quiet["end"])
    minute = local.hour * 60 + local.minute
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    if not inside or start == end:
        return None
    end_today = local.replace(hour=end // 60, minute=end % 60, second=0, microsecond=0)
    if end_today <= local:
        end_today += dt.timedelta(days=1)
    return end_today.timestamp()


def route(item: Item, links: Iterable[Link], preferences: Mapping[str, Any], now: float = 0.0) -> list[NewDelivery]:
    """Deliveries for one item, or none when the LMS rules or preferences say so."""
    held_until = None
    if item.kind is ItemKind.MESSAGE:
        if item.conversation_type == ConversationType.SELF or item.muted:
            return []  # notes to self stay private; muted conversations never ping (domain 6.8, 6.10)
    elif item.kind in NOTIFICATION_KINDS:
        if preferences.get("lms_disableall"):
            return []  # the person switched notifications off in the LMS
        kind_key = provider_of(item)
        if kind_key in types_switched_off(preferences) or kind_key in set(preferences.get("lms_mobile_off") or ()):
            return []  # the person's switch for chat; Pluto's Mobile output where it pushes
        if not (item.urgent and item.kind is ItemKind.TASK):
            held_until = quiet_until(preferences, now)
    payload = payload_of(item)
    chosen, fell_back = _chosen(item.kind, links, preferences)
    told = [fallback_notice(link, chosen_routes(item.kind, preferences), now) for link in chosen if fell_back]
    return told + [
        NewDelivery(item.key, link.id, link.identity.platform, lane_of(link.identity), payload, held_until)
        for link in chosen
    ]


def notice(link: Link, html: str, key: str | None = None) -> NewDelivery:
    """A message from the bridge itself to one link (link confirmed, sign-in expired)."""
    payload: dict[str, Any] = {
        "kind": ItemKind.NOTICE.value,
        "html": html,
        "conversation_id": None,
        "peer_id": None,
        "actions": [],
    }
    return NewDelivery(
        key or f"notice:{uuid.uuid4().hex}", link.id, link.identity.platform, lane_of(link.identity), payload
    )
