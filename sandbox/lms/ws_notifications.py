"""Notifications and the mixed ``core_message_get_messages`` getter."""

from __future__ import annotations

from typing import Any

from . import views
from .errors import access_denied, invalid_parameter, messaging_disabled, missing_record, no_capability
from .params import Bool, Int, Str
from .registry import MODERN, Ctx
from .state import TYPE_INDIVIDUAL, Notification

READ_UNREAD, READ_READ, READ_BOTH = 0, 1, 2


def _read_filter(raw: str) -> int:
    word = raw.strip().lower()
    return {"true": READ_READ, "false": READ_UNREAD}.get(word, int(word))


@MODERN.register(
    "core_message_get_messages",
    useridto=Int(),
    useridfrom=Int(0),
    type=Str("both"),
    read=Str("1", pattern=r"(?i)[012]|true|false"),
    newestfirst=Bool(True),
    limitfrom=Int(0),
    limitnum=Int(0),
)
def get_messages(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """Personal messages (one-to-one only) and notifications; ``read`` defaults to read items only."""
    kind, to, frm = p["type"], p["useridto"], p["useridfrom"]
    if kind not in ("notifications", "conversations", "both"):
        raise invalid_parameter()
    st = ctx.state
    warnings: list[dict[str, Any]] = []
    want_messages = kind != "notifications"
    if want_messages and not st.config["messaging"]:
        if kind == "conversations":
            raise messaging_disabled()
        want_messages = False
        warnings.append(
            {
                "item": "message",
                "itemid": to,
                "warningcode": "1",
                "message": "Messaging is disabled on this site",
            }
        )
    if ctx.userid not in (to, frm) and not ctx.is_admin:
        raise access_denied()
    if not to and not frm:
        return {"messages": [], "warnings": warnings}
    read = _read_filter(p["read"])

    def read_ok(is_read: bool) -> bool:
        return read == READ_BOTH or (read == READ_READ) == is_read

    rows: list[tuple[int, int, dict[str, Any]]] = []
    if want_messages:
        for m in st.messages.values():
            conv = st.conversations[m.conversationid]
            if conv.type != TYPE_INDIVIDUAL or (frm and m.useridfrom != frm):
                continue
            for recipient in st.members(conv):
                if recipient == m.useridfrom or (to and recipient != to) or recipient in m.deleted_for:
                    continue
                if read_ok(recipient in m.read_by):
                    rows.append((m.timecreated, 0, views.message_row(ctx.site, m, recipient)))
    if kind != "conversations":
        for n in st.notifications.values():
            if (to and n.useridto != to) or (frm and n.useridfrom != frm):
                continue
            if read_ok(n.timeread is not None):
                rows.append((n.timecreated, 1, views.notification_row(ctx.site, n)))
    rows.sort(key=lambda r: r[0], reverse=p["newestfirst"])
    start = max(p["limitfrom"], 0)
    page = rows[start : start + p["limitnum"]] if p["limitnum"] > 0 else rows[start:]
    return {"messages": [r[2] for r in page], "warnings": warnings}


def _popup_user(ctx: Ctx, useridto: int) -> int:
    userid = ctx.resolve(useridto)
    if userid not in ctx.state.users:
        raise invalid_parameter()
    if userid != ctx.userid and not ctx.is_admin:
        raise no_capability("Read all messages")
    return userid


# Providers not routed to the popup processor: contact requests (observed 13) and
# Totara tasks (popup is disallowed for them).
_NOT_POPUP = {("moodle", "messagecontactrequests"), ("totara_message", "task")}


def _popup_items(ctx: Ctx, userid: int) -> list[Notification]:
    """Notifications routed to the popup processor."""
    if ctx.state.users[userid].emailstop:
        return []
    return [
        n
        for n in ctx.state.notifications.values()
        if n.useridto == userid
        and (n.component, n.eventtype) not in _NOT_POPUP
        and "popup" in ctx.state.processors_enabled(userid, n.component, n.eventtype)
    ]


@MODERN.register(
    "message_popup_get_popup_notifications",
    useridto=Int(),
    newestfirst=Bool(True),
    limit=Int(0),
    offset=Int(0),
)
def get_popup_notifications(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """The bell menu's notifications and its unread count."""
    userid = _popup_user(ctx, p["useridto"])
    items = _popup_items(ctx, userid)
    items.sort(key=lambda n: (n.timecreated, n.timeread or 0, n.id), reverse=p["newestfirst"])
    start = max(p["offset"], 0)
    page = items[start : start + p["limit"]] if p["limit"] > 0 else items[start:]
    now = ctx.state.clock.now()
    return {
        "notifications": [views.popup_row(ctx.site, n, now) for n in page],
        "unreadcount": sum(1 for n in items if n.timeread is None),
    }


@MODERN.register("message_popup_get_unread_popup_notification_count", useridto=Int())
def get_unread_popup_notification_count(ctx: Ctx, p: dict[str, Any]) -> int:
    """Unread notifications in the bell menu."""
    userid = _popup_user(ctx, p["useridto"])
    return sum(1 for n in _popup_items(ctx, userid) if n.timeread is None)


@MODERN.register("core_message_get_unread_notification_count", useridto=Int())
def get_unread_notification_count(ctx: Ctx, p: dict[str, Any]) -> int:
    """Unread notifications of any processor (4.0+)."""
    userid = ctx.resolve(p["useridto"])
    if userid != ctx.userid and not ctx.is_admin:
        raise no_capability("Read all messages")
    return sum(1 for n in ctx.state.notifications.values() if n.useridto == userid and n.timeread is None)


@MODERN.register("core_message_mark_notification_read", notificationid=Int(), timeread=Int(0))
def mark_notification_read(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """Mark one of the token user's notifications read (others' -> invalidparameter, observed 8c)."""
    note = ctx.state.find_notification(p["notificationid"])
    if note is None:
        raise missing_record("notifications")
    if note.useridto != ctx.userid:
        raise invalid_parameter()
    ctx.state.mark_notification_read(note, p["timeread"] or ctx.state.clock.now())
    return {"notificationid": note.id, "warnings": []}


@MODERN.register(
    "core_message_mark_all_notifications_as_read", useridto=Int(), useridfrom=Int(0), timecreatedto=Int(0)
)
def mark_all_notifications_as_read(ctx: Ctx, p: dict[str, Any]) -> bool:
    """Mark a user's notifications read (``useridto=0``: everyone's, admins only)."""
    to = p["useridto"]
    if to != ctx.userid and not ctx.is_admin:
        raise no_capability("Delete any messages")
    now = ctx.state.clock.now()
    for n in ctx.state.notifications.values():
        if (to and n.useridto != to) or (p["useridfrom"] and n.useridfrom != p["useridfrom"]):
            continue
        if p["timecreatedto"] and n.timecreated > p["timecreatedto"]:
            continue
        ctx.state.mark_notification_read(n, now)
    return True
