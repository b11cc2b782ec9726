"""Who is where: the Pluto group's members against the room's members (``room status``,
and at link time, when people outside the group would start reading its messages)."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.lms.api import LmsApi
from bridge.model import ChatIdentity, RoomAddress
from bridge.ports import Adapter
from bridge.render import escape
from bridge.store.store import Store

SHOWN = 10  # names listed per line; the rest are counted


@dataclass(frozen=True, slots=True)
class MemberReport:
    """The three lists ``room status`` shows; ``listed``: the platform gave the room's
    member list (else only the people the bridge has seen in the room count)."""

    pluto_not_in_room: tuple[str, ...]
    room_not_linked: tuple[str, ...]
    linked_not_in_group: tuple[str, ...]
    listed: bool

    @property
    def outsiders(self) -> bool:
        """People who are not Pluto members of the group would read its messages."""
        return bool(self.room_not_linked or self.linked_not_in_group)

    def html(self) -> str:
        """The report as safe HTML."""

        def names(found: tuple[str, ...]) -> str:
            if not found:
                return "none"
            more = f" and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
            return ", ".join(escape(n) for n in found[:SHOWN]) + more

        seen = "" if self.listed else " (this platform does not list a room's members: people seen here)"
        return (
            "<ul>"
            f"<li>Pluto members not in this room: {names(self.pluto_not_in_room)}</li>"
            f"<li>Room members without a linked Pluto account{seen}: {names(self.room_not_linked)}</li>"
            f"<li>Linked room members who are not in the Pluto group: {names(self.linked_not_in_group)}</li>"
            "</ul>"
        )


async def member_report(
    store: Store,
    api: LmsApi,
    adapter: Adapter,
    room: RoomAddress,
    room_link_id: int,
    conversation_id: int,
    token: str,
    lms_user_id: int,
) -> MemberReport:
    """Compare the group's members (read with ``token``, a member's own) with the room's."""
    members = {m.id: m.fullname for m in await api.conversation_members(token, lms_user_id, conversation_id)}
    listed = await adapter.room_members(room)
    if listed is not None:
        await store.set_room_members(room_link_id, [i.user_id for i in listed])
        for user_id, name in (await adapter.room_member_names(room)).items():
            await store.set_room_member(room_link_id, user_id, True, name)
    known = await store.room_member_names(room_link_id)
    linked_ids: set[int] = set()
    not_linked: list[str] = []
    outside: list[str] = []
    for user_id, name in sorted(known.items()):
        link = await store.link_for(ChatIdentity(room.platform, room.workspace, user_id))
        if link is None:
            not_linked.append(name or user_id)
        elif link.lms_user_id in members:
            linked_ids.add(link.lms_user_id)
        else:
            outside.append(link.lms_fullname)
    missing = tuple(sorted(name for uid, name in members.items() if uid not in linked_ids))
    return MemberReport(missing, tuple(not_linked), tuple(sorted(outside)), listed is not None)
