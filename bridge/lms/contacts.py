"""Contacts, contact requests, blocks, mutes and "who can message me", always as the
person with their own token (never an administrator on their behalf).

Moodle 4.5 answers these as moodle-4.5-observed.md describes: a request that is no longer
pending is answered with success (item 23), refusals name nobody (item 25),
``message_blocknoncontacts`` 1 is "my contacts only" (item 27).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any

from bridge.lms.api import Member, member_from
from bridge.lms.client import LmsClient


class Privacy(enum.IntEnum):
    """``message_blocknoncontacts`` values (Moodle >= 3.6, lms-api.md 2.3)."""

    COURSE = 0  # course members (and contacts)
    CONTACTS = 1  # my contacts only
    SITE = 2  # anyone on the site, where the site allows it (messagingallusers)


@dataclass(frozen=True, slots=True)
class Person(Member):
    """A member record as the person sees it, with the contact requests between them."""

    pending: tuple[tuple[int, int], ...] = ()  # open requests between them: (requester, requested)


def _person(data: dict[str, Any]) -> Person:
    pending = tuple(
        (int(r["userid"]), int(r["requesteduserid"])) for r in data.get("contactrequests") or [] if "userid" in r
    )
    return Person(**dataclasses.asdict(member_from(data)), pending=pending)


class ContactsApi:
    """Typed wrappers of the ``core_message_*`` contact functions and the privacy preference."""

    def __init__(self, client: LmsClient) -> None:
        self.client = client

    async def contacts(self, token: str, userid: int) -> list[Person]:
        """The person's confirmed contacts."""
        data = await self.client.call(token, "core_message_get_user_contacts", userid=userid, limitfrom=0, limitnum=0)
        return [_person(u) for u in data]

    async def received_requests(self, token: str, userid: int) -> list[Person]:
        """The people waiting for the person to answer their contact request."""
        data = await self.client.call(
            token, "core_message_get_contact_requests", userid=userid, limitfrom=0, limitnum=0
        )
        return [_person(u) for u in data]

    async def members(self, token: str, userid: int, others: list[int]) -> list[Person]:
        """How ``others`` stand with the person (contact, blocked, open requests between them):
        Moodle has no list of sent requests, the member record shows them."""
        if not others:
            return []
        data = await self.client.call(
            token,
            "core_message_get_member_info",
            referenceuserid=userid,
            userids=others,
            includecontactrequests=True,
            includeprivacyinfo=False,
        )
        return [_person(u) for u in data]

    async def blocked(self, token: str, userid: int) -> list[Member]:
        """The people the person has blocked."""
        data = await self.client.call(token, "core_message_get_blocked_users", userid=userid)
        return [Member(int(u["id"]), str(u.get("fullname") or f"User {u['id']}")) for u in data.get("users") or []]

    async def request(self, token: str, userid: int, other: int) -> bool:
        """Ask ``other`` to become a contact; False when Pluto does not let the person ask
        (a warning, not an error: lms-api.md 2.2)."""
        data = await self.client.call_once(
            token, "core_message_create_contact_request", userid=userid, requesteduserid=other
        )
        return bool(data.get("request"))

    async def answer(self, token: str, requester: int, userid: int, accept: bool) -> None:
        """Accept or decline ``requester``'s request (success even when no longer pending)."""
        function = "core_message_confirm_contact_request" if accept else "core_message_decline_contact_request"
        await self.client.call(token, function, userid=requester, requesteduserid=userid)

    async def remove(self, token: str, userid: int, other: int) -> None:
        """End the contact between the person and ``other`` (for both)."""
        await self.client.call(token, "core_message_delete_contacts", userids=[other], userid=userid)

    async def block(self, token: str, userid: int, other: int, on: bool) -> None:
        """Block (or unblock) ``other``."""
        if on:
            await self.client.call(token, "core_message_block_user", userid=userid, blockeduserid=other)
        else:
            await self.client.call(token, "core_message_unblock_user", userid=userid, unblockeduserid=other)

    async def mute(self, token: str, userid: int, conversation_id: int, on: bool) -> None:
        """Mute (or unmute) one conversation for the person."""
        function = "core_message_mute_conversations" if on else "core_message_unmute_conversations"
        await self.client.call(token, function, userid=userid, conversationids=[conversation_id])

    async def conversation_with(self, token: str, userid: int, other: int) -> int | None:
        """The id of the one-to-one conversation with ``other``, None when there is none yet."""
        listing = await self.client.call(token, "core_message_get_conversations", userid=userid, type=1)
        for conv in listing.get("conversations") or []:
            if any(int(m["id"]) == other for m in conv.get("members") or []):
                return int(conv["id"])
        return None

    async def privacy(self, token: str, userid: int) -> Privacy:
        """Who may message the person, as Pluto applies it (site reads as course members
        where the site does not allow messaging everyone)."""
        data = await self.client.call(token, "core_message_get_user_message_preferences", userid=userid)
        return Privacy(int(data.get("blocknoncontacts") or 0))

    async def set_privacy(self, token: str, userid: int, value: Privacy) -> Privacy:
        """Set who may message the person; returns the value Pluto applies afterwards."""
        await self.client.call(
            token,
            "core_user_update_user_preferences",
            userid=userid,
            preferences=[{"type": "message_blocknoncontacts", "value": str(int(value))}],
        )
        return await self.privacy(token, userid)
