"""The ``room`` command: link a shared chat room to one of the person's Pluto group
conversations, unlink it, show its state.

Run in the room; every answer is shown to the person alone (the core answers commands
from shared rooms privately). Linking takes three checks: the person is a member of the
group conversation (the LMS says, read with their own token), they may manage the room
(the platform says, where it can), and, when people outside the Pluto group are in the
room, they confirm that those people will read the group's messages.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from bridge.inbound.relay import Answer
from bridge.lms.api import Conversation, LmsApi
from bridge.lms.errors import LmsError, LmsUnavailable
from bridge.model import Action, CommandEvent, ConversationType, Cursor, Platform, RoomAddress
from bridge.ports import Adapter
from bridge.profile import Profiles
from bridge.render import escape
from bridge.rooms.report import member_report
from bridge.store.records import Link, RoomLink, RoomStatus
from bridge.store.store import Store

log = logging.getLogger(__name__)

PREFIX = "room"  # button ids "room:pick:<room link>:<conversation>", "room:ok:<room link>", "room:no:<room link>"
CHOICES = 8
GROUPS_READ = 50


def is_room_action(action_id: str) -> bool:
    """Whether a button id belongs to the room command."""
    return action_id.startswith(PREFIX + ":")


class RoomCommand:
    """``room``, ``room unlink``, ``room status`` and the buttons they show."""

    def __init__(self, store: Store, api: LmsApi, adapters: Mapping[Platform, Adapter], profiles: Profiles) -> None:
        self.store = store
        self.api = api
        self.adapters = adapters
        self.profiles = profiles

    async def run(self, event: CommandEvent, link: Link | None) -> str | Answer:
        """Answer ``room [unlink | status]`` typed in a room (or, to explain, elsewhere)."""
        profile = self.profiles[event.identity.platform]
        room = event.shared
        if room is None or not self.adapters[room.platform].capabilities.rooms:
            return (
                "<p>Run this command in a group chat room (a channel or group where the bot is a member) "
                "to link that room to one of your Pluto group conversations.</p>"
            )
        what = event.args.strip().lower()
        if what == "status":
            return await self.status(room, link)
        if link is None or not link.active:
            return f"<p>Link your Pluto account first: send {escape(profile.command('link'))} to me privately.</p>"
        if what == "unlink":
            return await self.unlink(room, link)
        if what:
            return f"<p>Unknown room command {escape(what)}. Try {escape(profile.command('room status'))}.</p>"
        return await self.choose(room, link)

    async def choose(self, room: RoomAddress, link: Link) -> str | Answer:
        """Buttons for the person's group conversations (read with their own token)."""
        current = await self.store.room_link(room)
        if current is not None and current.status in (RoomStatus.ACTIVE, RoomStatus.PAUSED):
            return (
                f"<p>This room is already linked to <b>{escape(current.conversation_name)}</b>. "
                "Unlink it first to link another group.</p>"
            )
        try:
            groups = await self._groups(link)
        except (LmsError, LmsUnavailable) as exc:
            return f"<p>Could not read your Pluto group conversations: {escape(str(exc))}</p>"
        if not groups:
            return "<p>You are not a member of any Pluto group conversation, so there is nothing to link here.</p>"
        pending = await self.store.start_room_link(room, link.lms_user_id, link.identity)
        # They typed it in the room: they are in it (a platform that cannot list members
        # knows no better; their private copies then stop, as for every member in the room).
        await self.store.set_room_member(pending.id, link.identity.user_id, True)
        actions = tuple(
            Action(f"{PREFIX}:pick:{pending.id}:{g.id}", g.name or f"Group {g.id}", style="primary")
            for g in groups[:CHOICES]
        )
        return Answer("<p>Which Pluto group conversation should this room show?</p>", actions)

    async def _groups(self, link: Link) -> list[Conversation]:
        found = await self.api.conversations(link.token, link.lms_user_id, GROUPS_READ, kind=ConversationType.GROUP)
        return [c for c in found if c.type == ConversationType.GROUP]

    async def action(self, link: Link, action_id: str) -> Answer:
        """A press on one of the room command's buttons; a final answer (linked, refused,
        cancelled) also replaces the pressed message, retiring its buttons."""
        answer = await self._pressed(link, action_id)
        if answer.actions or answer.replace_html is not None:
            return answer
        return Answer(answer.html, replace_html=answer.html)

    async def _pressed(self, link: Link, action_id: str) -> Answer:
        parts = action_id.split(":")
        if len(parts) < 3 or not parts[2].isdigit():
            return Answer("<p>That button is no longer active.</p>")
        pending = await self.store.room_link_by_id(int(parts[2]))
        if pending is None or pending.linker != link.identity:
            return Answer("<p>That button is no longer active.</p>")
        if parts[1] == "no" and pending.status in (RoomStatus.CHOOSING, RoomStatus.CONFIRMING):
            await self.store.delete_room_link(pending.id)
            return Answer("<p>The room was not linked.</p>", replace_html="<p>The room was not linked.</p>")
        if parts[1] == "pick" and len(parts) == 4 and parts[3].isdigit() and pending.status is RoomStatus.CHOOSING:
            return await self._picked(pending, link, int(parts[3]))
        if parts[1] == "ok" and pending.status is RoomStatus.CONFIRMING and pending.conversation_id is not None:
            return await self._link(pending, link, pending.conversation_id)
        return Answer("<p>That button is no longer active.</p>")

    async def _member_of(self, link: Link, conversation_id: int) -> Conversation | None:
        return next((g for g in await self._groups(link) if g.id == conversation_id), None)

    async def _picked(self, pending: RoomLink, link: Link, conversation_id: int) -> Answer:
        try:
            group = await self._member_of(link, conversation_id)
        except (LmsError, LmsUnavailable) as exc:
            return Answer(f"<p>Could not check with Pluto: {escape(str(exc))}</p>")
        if group is None:
            return Answer("<p>Not linked: Pluto says you are not a member of that group conversation.</p>")
        adapter = self.adapters[pending.room.platform]
        if await adapter.can_manage(pending.room, link.identity) is False:
            return Answer(
                f"<p>Not linked: only people who may manage this room can link it ({self._who(adapter)}).</p>"
            )
        report = await member_report(
            self.store, self.api, adapter, pending.room, pending.id, group.id, link.token, link.lms_user_id
        )
        if not report.outsiders:
            return await self._link(pending, link, group.id, group)
        await self.store.update_room_link(
            pending.id, status=RoomStatus.CONFIRMING, conversation_id=group.id, conversation_name=group.name
        )
        html = (
            f"<p>People in this room who are not members of <b>{escape(group.name)}</b> in Pluto will read "
            "its messages once it is linked.</p>" + report.html()
        )
        return Answer(
            html,
            (
                Action(f"{PREFIX}:ok:{pending.id}", "Link anyway", style="danger"),
                Action(f"{PREFIX}:no:{pending.id}", "Cancel"),
            ),
        )

    @staticmethod
    def _who(adapter: Adapter) -> str:
        return {
            Platform.TELEGRAM: "a group administrator",
            Platform.DISCORD: "Manage Channels permission",
            Platform.TEAMS: "a team owner, or a member of the group chat",
        }.get(adapter.platform, "a member of the room")

    async def _link(
        self, pending: RoomLink, link: Link, conversation_id: int, group: Conversation | None = None
    ) -> Answer:
        """The link takes effect: the room receives what is written from now on."""
        try:
            group = group or await self._member_of(link, conversation_id)
        except (LmsError, LmsUnavailable) as exc:
            return Answer(f"<p>Could not check with Pluto: {escape(str(exc))}</p>")
        if group is None:
            return Answer("<p>Not linked: Pluto says you are not a member of that group conversation.</p>")
        start = Cursor(group.latest_time or 0, frozenset({group.latest_id} if group.latest_id else ()))
        await self.store.update_room_link(
            pending.id,
            status=RoomStatus.ACTIVE,
            conversation_id=group.id,
            conversation_name=group.name,
            reader_lms_user_id=link.lms_user_id,
            reason="",
            cursor=start,
        )
        log.info("room %s linked to group conversation %s by LMS user %s", pending.room, group.id, link.lms_user_id)
        done = (
            f"<p>This room is now linked to <b>{escape(group.name)}</b>. Its messages appear here with their "
            "authors; what members with a linked Pluto account write here goes to Pluto as them.</p>"
        )
        return Answer(done, replace_html=done)

    async def unlink(self, room: RoomAddress, link: Link) -> str:
        """``room unlink``: the linker, or someone who may manage the room."""
        current = await self.store.room_link(room)
        if current is None:
            return "<p>This room is not linked to Pluto.</p>"
        adapter = self.adapters[room.platform]
        if current.linker != link.identity and not await adapter.can_manage(room, link.identity):
            return f"<p>Only the person who linked this room, or {self._who(adapter)}, can unlink it.</p>"
        await self.store.delete_room_link(current.id)
        return f"<p>This room is no longer linked to <b>{escape(current.conversation_name)}</b>.</p>"

    async def status(self, room: RoomAddress, link: Link | None) -> str:
        """``room status``: the link's state, the platform's notes and the member report."""
        current = await self.store.room_link(room)
        adapter = self.adapters[room.platform]
        notes = "".join(f"<p>{escape(n)}</p>" for n in await adapter.room_notes(room))
        if (
            current is None
            or current.conversation_id is None
            or current.status
            not in (
                RoomStatus.ACTIVE,
                RoomStatus.PAUSED,
            )
        ):
            return "<p>This room is not linked to a Pluto group conversation.</p>" + notes
        state = "active"
        if current.status is RoomStatus.PAUSED:
            state = f"paused: {current.reason}"
        html = f"<p>Linked to <b>{escape(current.conversation_name)}</b>; link {escape(state)}.</p>" + notes
        reader = await self._reader(current)  # a group member's token, whoever asks
        if reader is None:
            return html
        try:
            report = await member_report(
                self.store,
                self.api,
                adapter,
                room,
                current.id,
                current.conversation_id,
                reader.token,
                reader.lms_user_id,
            )
        except (LmsError, LmsUnavailable) as exc:
            return html + f"<p>Could not compare members with Pluto: {escape(str(exc))}</p>"
        return html + report.html()

    async def _reader(self, current: RoomLink) -> Link | None:
        links = await self.store.links_of_user(current.reader_lms_user_id or current.linker_lms_user_id)
        return links[0] if links else None
