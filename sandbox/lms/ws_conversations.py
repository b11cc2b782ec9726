"""Conversation functions: listing, reading, read state, mute and favourites."""

from __future__ import annotations

from typing import Any

from . import views
from .errors import (
    access_denied,
    conversation_missing,
    invalid_parameter,
    invalid_response,
    missing_record,
    sentence,
)
from .params import Bool, Int, List, Spec
from .registry import MODERN, Ctx
from .state import TYPE_GROUP, TYPE_INDIVIDUAL, TYPE_SELF, Conversation, Message, State


def _page(items: list[Any], limitfrom: int, limitnum: int) -> list[Any]:
    start = max(limitfrom, 0)
    return items[start : start + limitnum] if limitnum > 0 else items[start:]


def time_order(messages: list[Message], newest: bool) -> list[Message]:
    """Order by ``timecreated`` only, as Moodle does (observed 6).

    Moodle has no id tie-break; within one second the sandbox deliberately returns the
    opposite of id order so that a client relying on it is caught.
    """
    if newest:
        return sorted(messages, key=lambda m: (-m.timecreated, m.id))
    return sorted(messages, key=lambda m: (m.timecreated, -m.id))


def _latest(st: State, conv: Conversation, userid: int) -> Message | None:
    msgs = st.visible_messages(conv, userid)
    return max(msgs, key=lambda m: (m.timecreated, m.id)) if msgs else None


def shows_in_summary(m: Message) -> bool:
    """Moodle adds the latest message to a listed conversation only when its short text is
    truthy in PHP (``if ($conversation->smallmessage)``): ``"0"`` and ``""`` are left out,
    while the unread count still counts them (moodle-4.5-observed.md item 18)."""
    return m.text not in ("", "0")


def _summary_members(
    ctx: Ctx, conv: Conversation, userid: int, latest: Message | None
) -> list[dict[str, Any]]:
    st = ctx.state
    if conv.type == TYPE_INDIVIDUAL:
        others = [m for m in conv.fixed_members if m != userid]
        return [views.member(ctx.site, userid, o, privacyinfo=True) for o in others]
    if conv.type == TYPE_SELF:
        return [views.member(ctx.site, userid, userid, self_summary=True)]
    if latest is None or latest.useridfrom not in st.users:
        return []
    return [views.member(ctx.site, userid, latest.useridfrom)]


@MODERN.register(
    "core_message_get_conversations",
    userid=Int(),
    limitfrom=Int(0),
    limitnum=Int(0),
    type=Int(None, allow_null=True),
    favourites=Bool(None, allow_null=True),
    mergeself=Bool(False),
)
def get_conversations(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """A user's conversations, latest message only, most recently active first."""
    ctx.require_messaging()
    userid = p["userid"]
    ctx.require_readall(userid)
    st = ctx.state
    if userid not in st.users:
        raise invalid_parameter()
    st.self_conversation(userid)  # Moodle creates it on first listing
    rows: list[tuple[Conversation, Message | None]] = []
    for conv in st.conversations_of(userid):
        latest = _latest(st, conv, userid)
        if conv.type == TYPE_INDIVIDUAL and latest is None:
            continue  # empty one-to-one conversations are not listed
        if p["type"] is not None:
            wanted = {p["type"]} | ({TYPE_SELF} if p["mergeself"] and p["type"] == TYPE_INDIVIDUAL else set())
            if conv.type not in wanted:
                continue
        if p["favourites"] is not None and (userid in conv.favourites) != p["favourites"]:
            continue
        rows.append((conv, latest))
    with_msgs = sorted(
        (r for r in rows if r[1] is not None),
        key=lambda r: (r[1].timecreated, r[1].id),  # type: ignore[union-attr]
        reverse=True,
    )
    empty = sorted((r for r in rows if r[1] is None), key=lambda r: r[0].id, reverse=True)
    out = []
    for conv, latest in _page(with_msgs + empty, p["limitfrom"], p["limitnum"]):
        members = _summary_members(ctx, conv, userid, latest)
        messages = [views.message_item(latest)] if latest and shows_in_summary(latest) else []
        out.append(views.conversation(ctx.site, conv, userid, members, messages))
    return {"conversations": out}


def _full_conversation(ctx: Ctx, conv: Conversation, userid: int, p: dict[str, Any]) -> dict[str, Any]:
    st = ctx.state
    others = [m for m in st.members(conv) if m != userid] if conv.type != TYPE_SELF else [userid]
    members = [
        views.member(
            ctx.site,
            userid,
            m,
            contactrequests=p["includecontactrequests"],
            privacyinfo=p["includeprivacyinfo"],
        )
        for m in _page(others, p["memberoffset"], p["memberlimit"])
    ]
    msgs = time_order(st.visible_messages(conv, userid), p["newestmessagesfirst"])
    messages = [views.message_item(m) for m in _page(msgs, p["messageoffset"], p["messagelimit"])]
    return views.conversation(ctx.site, conv, userid, members, messages)


_FULL: dict[str, Spec] = {
    "includecontactrequests": Bool(False),
    "includeprivacyinfo": Bool(False),
    "memberlimit": Int(0),
    "memberoffset": Int(0),
    "messagelimit": Int(100),
    "messageoffset": Int(0),
    "newestmessagesfirst": Bool(True),
}


@MODERN.register("core_message_get_conversation", userid=Int(), conversationid=Int(), **_FULL)
def get_conversation(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """One conversation with pages of members and messages."""
    ctx.require_messaging()
    userid = p["userid"]
    ctx.require_readall(userid)
    conv = ctx.state.conversations.get(p["conversationid"])
    if conv is None or not ctx.state.is_member(userid, conv):
        raise conversation_missing()
    return _full_conversation(ctx, conv, userid, p)


@MODERN.register("core_message_get_conversation_between_users", userid=Int(), otheruserid=Int(), **_FULL)
def get_conversation_between_users(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """The one-to-one conversation of two users."""
    ctx.require_messaging()
    userid = p["userid"]
    ctx.require_readall(userid)
    conv = ctx.state.individual_between(userid, p["otheruserid"])
    if conv is None:
        raise conversation_missing()
    return _full_conversation(ctx, conv, userid, p)


@MODERN.register(
    "core_message_get_self_conversation",
    userid=Int(),
    messagelimit=Int(100),
    messageoffset=Int(0),
    newestmessagesfirst=Bool(True),
)
def get_self_conversation(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """The user's self-conversation."""
    ctx.require_messaging()
    userid = p["userid"]
    ctx.require_readall(userid)
    conv = ctx.state.self_conversation(userid)
    args = {
        **p,
        "includecontactrequests": False,
        "includeprivacyinfo": False,
        "memberlimit": 0,
        "memberoffset": 0,
    }
    return _full_conversation(ctx, conv, userid, args)


@MODERN.register(
    "core_message_get_conversation_members",
    userid=Int(),
    conversationid=Int(),
    includecontactrequests=Bool(False),
    includeprivacyinfo=Bool(False),
    limitfrom=Int(0),
    limitnum=Int(0),
)
def get_conversation_members(ctx: Ctx, p: dict[str, Any]) -> list[dict[str, Any]]:
    """Every member of a conversation (the whole membership, unlike the message calls)."""
    ctx.require_messaging()
    userid = p["userid"]
    ctx.require_manageall(userid)
    conv = ctx.state.conversations.get(p["conversationid"])
    if conv is None or not ctx.state.is_member(userid, conv):
        raise sentence("You are not a member of this conversation.")
    return [
        views.member(
            ctx.site,
            userid,
            m,
            contactrequests=p["includecontactrequests"],
            privacyinfo=p["includeprivacyinfo"],
        )
        for m in _page(ctx.state.members(conv), p["limitfrom"], p["limitnum"])
    ]


@MODERN.register(
    "core_message_get_conversation_messages",
    currentuserid=Int(),
    convid=Int(),
    limitfrom=Int(0),
    limitnum=Int(0),
    newest=Bool(False),
    timefrom=Int(0),
)
def get_conversation_messages(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """Messages of a conversation; ``timefrom`` inclusive, capped at now-1 (observed 5, 5e, 5f)."""
    ctx.require_messaging()
    userid = p["currentuserid"]
    ctx.require_readall(userid)
    st = ctx.state
    conv = st.conversations.get(p["convid"])
    if conv is None or not st.is_member(userid, conv):
        raise sentence("User is not part of conversation.")
    timefrom = p["timefrom"]
    now = st.clock.now()
    if timefrom and timefrom == now:
        # Moodle answers [] for exactly the current second, which fails its own return
        # description (observed 5e); a later timefrom is an ordinary empty result.
        raise invalid_response()
    msgs = st.visible_messages(conv, userid)
    if timefrom:
        msgs = [m for m in msgs if timefrom <= m.timecreated <= now - 1]
    page = _page(time_order(msgs, p["newest"]), p["limitfrom"], p["limitnum"])
    authors = list(dict.fromkeys(m.useridfrom for m in page))
    return {
        "id": conv.id,
        "members": [views.member(ctx.site, userid, a) for a in authors if a in st.users],
        "messages": [views.message_item(m) for m in page],
    }


@MODERN.register("core_message_mark_all_conversation_messages_as_read", userid=Int(), conversationid=Int())
def mark_all_conversation_messages_as_read(ctx: Ctx, p: dict[str, Any]) -> None:
    """Mark every message of a conversation read for ``userid``; returns null."""
    ctx.require_messaging()
    st = ctx.state
    userid = p["userid"]
    conv = st.conversations.get(p["conversationid"])
    allowed = ctx.is_admin or (userid == ctx.userid and conv is not None and st.is_member(userid, conv))
    if not allowed or conv is None:
        raise access_denied()
    now = st.clock.now()
    for m in st.unread(conv, userid):
        st.mark_message_read(m, userid, now)
    return None


@MODERN.register("core_message_mark_message_read", messageid=Int(), timeread=Int(0))
def mark_message_read(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """Mark one message read for the token user, who must be a recipient who has not read it."""
    st = ctx.state
    msg = st.find_message(p["messageid"])
    conv = st.conversations.get(msg.conversationid) if msg else None
    if (
        msg is None
        or conv is None
        or msg.useridfrom == ctx.userid
        or ctx.userid in msg.read_by
        or not st.is_member(ctx.userid, conv)
    ):
        raise missing_record()
    st.mark_message_read(msg, ctx.userid, p["timeread"] or st.clock.now())
    return {"messageid": msg.id, "warnings": []}


def _counts(ctx: Ctx, userid: int, unread_only: bool) -> dict[str, Any]:
    st = ctx.state
    counts = {"favourites": 0, "types": {str(TYPE_INDIVIDUAL): 0, str(TYPE_GROUP): 0, str(TYPE_SELF): 0}}
    for conv in st.conversations_of(userid):
        if unread_only:
            if userid in conv.muted or not st.unread(conv, userid):
                continue
        elif conv.type == TYPE_INDIVIDUAL and not st.visible_messages(conv, userid):
            continue
        if userid in conv.favourites:
            counts["favourites"] += 1  # type: ignore[operator]
        else:
            counts["types"][str(conv.type)] += 1  # type: ignore[index]
    return counts


@MODERN.register("core_message_get_unread_conversation_counts", userid=Int(0))
def get_unread_conversation_counts(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """Conversations with unread messages, favourites apart, by type (muted ones left out)."""
    ctx.require_messaging()
    userid = ctx.resolve(p["userid"])
    ctx.require_readall(userid)
    return _counts(ctx, userid, unread_only=True)


@MODERN.register("core_message_get_conversation_counts", userid=Int(0))
def get_conversation_counts(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """All conversations, favourites apart, by type."""
    ctx.require_messaging()
    userid = ctx.resolve(p["userid"])
    ctx.require_readall(userid)
    ctx.state.self_conversation(userid)
    return _counts(ctx, userid, unread_only=False)


@MODERN.register("core_message_get_unread_conversations_count", useridto=Int())
def get_unread_conversations_count(ctx: Ctx, p: dict[str, Any]) -> int:
    """How many conversations hold unread messages (the 3.2 API)."""
    userid = ctx.resolve(p["useridto"])
    ctx.require_readall(userid)
    st = ctx.state
    return sum(1 for conv in st.conversations_of(userid) if st.unread(conv, userid))


def _conversation_action(ctx: Ctx, userid: int, conversationids: list[int]) -> list[Conversation]:
    ctx.require_messaging()
    ctx.require_manageall(userid)
    convs = []
    for cid in conversationids:
        conv = ctx.state.conversations.get(cid)
        if conv is None or not ctx.state.is_member(userid, conv):
            raise sentence("You are not a member of this conversation.")
        convs.append(conv)
    return convs


@MODERN.register("core_message_mute_conversations", userid=Int(), conversationids=List(Int()))
def mute_conversations(ctx: Ctx, p: dict[str, Any]) -> list[Any]:
    """Mute conversations for ``userid``."""
    for conv in _conversation_action(ctx, p["userid"], p["conversationids"]):
        conv.muted.add(p["userid"])
    return []


@MODERN.register("core_message_unmute_conversations", userid=Int(), conversationids=List(Int()))
def unmute_conversations(ctx: Ctx, p: dict[str, Any]) -> list[Any]:
    """Unmute conversations for ``userid``."""
    for conv in _conversation_action(ctx, p["userid"], p["conversationids"]):
        conv.muted.discard(p["userid"])
    return []


@MODERN.register("core_message_set_favourite_conversations", userid=Int(0), conversations=List(Int()))
def set_favourite_conversations(ctx: Ctx, p: dict[str, Any]) -> list[Any]:
    """Star conversations for ``userid``."""
    userid = ctx.resolve(p["userid"])
    for conv in _conversation_action(ctx, userid, p["conversations"]):
        conv.favourites.add(userid)
    return []


@MODERN.register("core_message_unset_favourite_conversations", userid=Int(0), conversations=List(Int()))
def unset_favourite_conversations(ctx: Ctx, p: dict[str, Any]) -> list[Any]:
    """Unstar conversations for ``userid``."""
    userid = ctx.resolve(p["userid"])
    for conv in _conversation_action(ctx, userid, p["conversations"]):
        conv.favourites.discard(userid)
    return []


@MODERN.register("core_message_delete_message", messageid=Int(), userid=Int(), read=Bool(True))
def delete_message(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """Hide a message from ``userid``'s view only (others still see it)."""
    ctx.require_messaging()
    st = ctx.state
    userid = p["userid"]
    msg = st.find_message(p["messageid"])
    conv = st.conversations.get(msg.conversationid) if msg else None
    if (
        msg is None
        or conv is None
        or not st.is_member(userid, conv)
        or (userid != ctx.userid and not ctx.is_admin)
    ):
        raise sentence("You do not have permission to delete this message")
    msg.deleted_for.add(userid)
    return {"status": True, "warnings": []}
