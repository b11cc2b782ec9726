"""The web-service functions the bridge uses, with their observed quirks handled once here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bridge.lms.client import LmsClient
from bridge.lms.errors import FunctionUnavailable, InvalidResponse, NotFound, SendRefused
from bridge.lms.notification_prefs import NotificationPrefs, parse_notification_prefs

# Functions the bridge needs on a modern (Moodle >= 3.6) site; `check` names the missing ones.
MODERN_FUNCTIONS: tuple[str, ...] = (
    "core_webservice_get_site_info",
    "core_user_get_users_by_field",
    "core_message_get_conversations",
    "core_message_get_conversation_messages",
    "core_message_get_conversation_members",
    "core_message_send_messages_to_conversation",
    "core_message_send_instant_messages",
    "core_message_mark_all_conversation_messages_as_read",
)

_CLIENT_MSG_ID = re.compile(r"[^A-Za-z0-9_-]")


def legacy_conversation(peer_id: int) -> int:
    """A legacy (Totara) site has no conversations: the exchange with ``peer_id`` stands for
    one under this id, negative so that it never names a real conversation."""
    return -abs(peer_id)


def legacy_peer(conversation_id: int) -> int | None:
    """The correspondent a stand-in conversation id names (None for a real conversation)."""
    return -conversation_id if conversation_id < 0 else None


@dataclass(frozen=True, slots=True)
class SiteInfo:
    """What ``core_webservice_get_site_info`` says about the site and the token's user."""

    sitename: str
    siteurl: str
    release: str
    version: str
    userid: int
    username: str
    fullname: str
    functions: frozenset[str]
    messaging: bool
    is_site_admin: bool = False  # userissiteadmin: its token would bypass Pluto's privacy rules

    @property
    def generation(self) -> str:
        """``modern`` (Moodle >= 3.6, conversations) or ``legacy`` (Totara, pre-3.6 Moodle)."""
        return "modern" if "core_message_get_conversations" in self.functions else "legacy"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SiteInfo:
        features = {f.get("name"): f.get("value") for f in data.get("advancedfeatures") or [] if isinstance(f, dict)}
        functions = data.get("functions") or []
        return cls(
            sitename=str(data.get("sitename", "")),
            siteurl=str(data.get("siteurl", "")),
            release=str(data.get("release", "")),
            version=str(data.get("version", "")),
            userid=int(data.get("userid", 0)),
            username=str(data.get("username", "")),
            fullname=str(data.get("fullname", "")),
            functions=frozenset(str(f["name"]) for f in functions if isinstance(f, dict) and "name" in f),
            # Moodle lists the messaging switch among advancedfeatures; absent means on.
            messaging=bool(int(features.get("messaging", 1) or 0)),
            is_site_admin=bool(data.get("userissiteadmin", False)),
        )


@dataclass(frozen=True, slots=True)
class Member:
    """A person as a member record shows them to the caller (contacts, search, members)."""

    id: int
    fullname: str
    iscontact: bool = False
    isblocked: bool = False


@dataclass(frozen=True, slots=True)
class Conversation:
    """One entry of ``core_message_get_conversations`` (only its latest message)."""

    id: int
    type: int
    name: str
    ismuted: bool
    unreadcount: int
    members: tuple[Member, ...]
    latest_id: int | None
    latest_time: int | None
    latest_from: int | None = None
    latest_text: str = ""


@dataclass(frozen=True, slots=True)
class ConversationMessage:
    id: int
    useridfrom: int
    text: str
    timecreated: int


def member_from(data: dict[str, Any]) -> Member:
    """A member record of Moodle's message functions (search, contacts, members)."""
    return Member(
        id=int(data["id"]),
        fullname=str(data.get("fullname") or f"User {data['id']}"),
        iscontact=bool(data.get("iscontact")),
        isblocked=bool(data.get("isblocked")),
    )


class LmsApi:
    """Typed wrappers around ``LmsClient.call`` for the functions the bridge needs."""

    def __init__(self, client: LmsClient) -> None:
        self.client = client

    async def site_info(self, token: str) -> SiteInfo:
        return SiteInfo.from_json(await self.client.call(token, "core_webservice_get_site_info"))

    async def users_by_field(self, token: str, field: str, values: list[str]) -> list[dict[str, Any]]:
        return list(await self.client.call(token, "core_user_get_users_by_field", field=field, values=values))

    async def find_people(self, token: str, userid: int, name: str) -> list[Member]:
        """People this user may message whose name contains ``name``, contacts first.

        Moodle finds nobody but the caller by username for ordinary users (observed 19): the
        messaging search is the way. A site without it (Totara) is asked by username. Moodle
        lists the caller too when their own name matches (they have a self-conversation):
        left out, as nobody means to write to themselves this way."""
        try:
            data = await self.client.call(
                token, "core_message_message_search_users", userid=userid, search=name, limitfrom=0, limitnum=20
            )
        except (NotFound, FunctionUnavailable):
            return [member_from(u) for u in await self.users_by_field(token, "username", [name.lower()])]
        found = [member_from(u) for u in [*(data.get("contacts") or []), *(data.get("noncontacts") or [])]]
        return [m for m in found if m.id != userid]

    async def member(self, token: str, userid: int, other: int) -> Member | None:
        """``other`` as this user sees them (name, contact, blocked); None if Pluto has no such
        person for them."""
        found = await self.client.call(
            token, "core_message_get_member_info", referenceuserid=userid, userids=[other]
        )
        return next((member_from(m) for m in found or [] if int(m.get("id", 0)) == other), None)

    async def conversations(self, token: str, userid: int, limit: int, kind: int | None = None) -> list[Conversation]:
        """The user's conversations, most recently active first (self-conversations merged
        out); of one type only with ``kind`` (2: the group conversations they belong to)."""
        by_type = {} if kind is None else {"type": int(kind)}
        data = await self.client.call(
            token, "core_message_get_conversations", userid=userid, limitfrom=0, limitnum=limit, **by_type
        )
        result = []
        for conv in data.get("conversations", []):
            latest = (conv.get("messages") or [None])[0]
            result.append(
                Conversation(
                    id=int(conv["id"]),
                    type=int(conv.get("type") or 1),
                    name=str(conv.get("name") or ""),
                    ismuted=bool(conv.get("ismuted")),
                    # Moodle answers null rather than 0 once a conversation is read (observed 15).
                    unreadcount=int(conv.get("unreadcount") or 0),
                    members=tuple(member_from(m) for m in conv.get("members") or []),
                    latest_id=int(latest["id"]) if latest else None,
                    latest_time=int(latest["timecreated"]) if latest else None,
                    latest_from=int(latest["useridfrom"]) if latest else None,
                    latest_text=str(latest.get("text") or "") if latest else "",
                )
            )
        return result

    async def conversation_messages(
        self, token: str, userid: int, conversation_id: int, timefrom: int, limit: int = 0, newest: bool = False
    ) -> tuple[list[ConversationMessage], dict[int, str]]:
        """Messages at or after ``timefrom`` (inclusive), sorted by (timecreated, id), and
        the names of their authors; with ``newest``, the ``limit`` newest of them.

        Moodle answers ``invalidresponse`` when ``timefrom`` is its current second
        (observed 5e); that means "nothing yet", so it becomes an empty answer. With a
        ``timefrom`` it also holds back the messages of its current second
        (moodle-4.5-observed.md item 5); with ``timefrom=0`` it does not.
        """
        try:
            data = await self.client.call(
                token,
                "core_message_get_conversation_messages",
                currentuserid=userid,
                convid=conversation_id,
                limitfrom=0,
                limitnum=limit,
                newest=newest,
                timefrom=timefrom,
            )
        except InvalidResponse:
            return [], {}
        messages = [
            ConversationMessage(int(m["id"]), int(m["useridfrom"]), str(m.get("text") or ""), int(m["timecreated"]))
            for m in data.get("messages", [])
        ]
        # Moodle orders by timecreated only; same-second messages come in any order (observed 6).
        messages.sort(key=lambda m: (m.timecreated, m.id))
        names = {int(m["id"]): str(m.get("fullname") or "") for m in data.get("members", [])}
        return messages, names

    async def conversation_members(self, token: str, userid: int, conversation_id: int) -> list[Member]:
        data = await self.client.call(
            token, "core_message_get_conversation_members", userid=userid, conversationid=conversation_id
        )
        return [member_from(m) for m in data]

    async def send_to_conversation(self, token: str, conversation_id: int, text: str) -> ConversationMessage:
        """Send plain text into a conversation as the token's user."""
        data = await self.client.call_once(
            token,
            "core_message_send_messages_to_conversation",
            conversationid=conversation_id,
            messages=[{"text": text, "textformat": 2}],
        )
        first = data[0]
        return ConversationMessage(
            int(first["id"]), int(first["useridfrom"]), str(first["text"]), int(first["timecreated"])
        )

    async def send_instant_message(self, token: str, touserid: int, text: str, clientmsgid: str) -> dict[str, Any]:
        """Send a private message; a privacy refusal (inline ``msgid: -1``) raises ``SendRefused``."""
        # Moodle refuses the whole call for any other character in clientmsgid (observed 10).
        safe_id = _CLIENT_MSG_ID.sub("-", clientmsgid)[:100]
        data = await self.client.call_once(
            token,
            "core_message_send_instant_messages",
            messages=[{"touserid": touserid, "text": text, "textformat": 2, "clientmsgid": safe_id}],
        )
        first = dict(data[0])
        if int(first.get("msgid", -1)) == -1:
            reason = str(first.get("errormessage") or "the LMS refused the message")
            raise SendRefused("sendrefused", reason, "", "core_message_send_instant_messages")
        return first

    async def mark_conversation_read(self, token: str, userid: int, conversation_id: int) -> None:
        """Mark a conversation read for ``userid``; on a legacy site (a stand-in id), every
        unread message from that correspondent, one by one as Totara's API allows."""
        peer = legacy_peer(conversation_id)
        if peer is not None:
            for row in await self.legacy_messages(token, userid, read=False, limit=0, offset=0, useridfrom=peer):
                await self.client.call(token, "core_message_mark_message_read", messageid=int(row["id"]), timeread=0)
            return
        await self.client.call(
            token,
            "core_message_mark_all_conversation_messages_as_read",
            userid=userid,
            conversationid=conversation_id,
        )

    async def legacy_messages(
        self, token: str, userid: int, *, read: bool, limit: int, offset: int, useridfrom: int = 0
    ) -> list[dict[str, Any]]:
        """Read or unread personal messages to ``userid``, newest first (legacy sites: ``read``
        is a boolean there, and a message changes its id when it is read)."""
        data = await self.client.call(
            token,
            "core_message_get_messages",
            useridto=userid,
            useridfrom=useridfrom,
            type="conversations",
            read=int(read),
            newestfirst=True,
            limitfrom=offset,
            limitnum=limit,
        )
        return list(data.get("messages") or [])


class NotificationApi:
    """Notifications, contact requests and Totara tasks: the calls behind alerts and tasks."""

    def __init__(self, client: LmsClient) -> None:
        self.client = client

    async def notifications(
        self, token: str, userid: int, *, legacy: bool, limit: int, offset: int = 0
    ) -> list[dict[str, Any]]:
        """Newest notifications first. Modern sites: read and unread (``read=2``, 4.0+), so
        that items read in the LMS can be retired; legacy sites take a boolean: unread only."""
        data = await self.client.call(
            token,
            "core_message_get_messages",
            useridto=userid,
            useridfrom=0,
            type="notifications",
            read=0 if legacy else 2,
            newestfirst=True,
            limitfrom=offset,
            limitnum=limit,
        )
        return list(data.get("messages") or [])

    async def mark_notification_read(self, token: str, notification_id: int) -> None:
        await self.client.call(token, "core_message_mark_notification_read", notificationid=notification_id, timeread=0)

    async def mark_message_read(self, token: str, message_id: int) -> int:
        """Legacy mark-read; Totara answers with the item's new id in ``message_read``."""
        data = await self.client.call(token, "core_message_mark_message_read", messageid=message_id, timeread=0)
        return int(data.get("messageid") or message_id)

    async def contact_requesters(self, token: str, userid: int) -> set[int]:
        """Ids of the people whose contact requests to ``userid`` are still pending."""
        data = await self.client.call(
            token, "core_message_get_contact_requests", userid=userid, limitfrom=0, limitnum=0
        )
        return {int(u["id"]) for u in data}

    async def confirm_contact_request(self, token: str, requester: int, requested: int) -> None:
        await self.client.call(
            token, "core_message_confirm_contact_request", userid=requester, requesteduserid=requested
        )

    async def decline_contact_request(self, token: str, requester: int, requested: int) -> None:
        await self.client.call(
            token, "core_message_decline_contact_request", userid=requester, requesteduserid=requested
        )

    async def totara_items(self, token: str, kind: str) -> list[dict[str, Any]]:
        """Open Totara tasks or alerts through the site's custom ``local_pluto_get_tasks``."""
        data = await self.client.call(token, "local_pluto_get_tasks", type=kind)
        return list(data.get("tasks") or [])

    async def task_action(self, token: str, function: str, message_id: int, action: str, reason: str) -> dict[str, Any]:
        """Accept, reject or dismiss a Totara task through the site's task-action function."""
        return dict(
            await self.client.call_once(token, function, messageid=message_id, action=action, reasonfordecision=reason)
        )

    async def notification_prefs(self, token: str, userid: int) -> NotificationPrefs:
        """The person's "disable all notifications" switch and notification types in the LMS."""
        data = await self.client.call(token, "core_message_get_user_notification_preferences", userid=userid)
        return parse_notification_prefs(data)
