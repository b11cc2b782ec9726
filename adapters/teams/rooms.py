"""Teams rooms: team channels and group chats linked to Pluto group conversations.

Teams has no per-message sender name for a bot, so each post starts with its Pluto
author's name as a header line; it has no ephemeral messages either, so everything for one
person goes to their 1:1 chat with the bot (``tell_in_room`` says no). Group-chat members
may link their chat; in a team channel only the team's owners, which only Microsoft Graph
knows (``adapters.teams.graph``, with the team's consent ``TeamMember.Read.Group``;
without it ``can_manage`` leaves it to the LMS membership check and ``room status`` says
which permission to grant). Without resource-specific
consent (``ChannelMessage.Read.Group``, ``ChatMessage.Read.Chat``) the bot hears only
messages that @mention it: ``room status`` says so. The bot removed from the team or chat
(``conversationUpdate``/``installationUpdate``) pauses the link; a post answered 403 or
404 does too.
"""

from __future__ import annotations

import html
import logging
from typing import Any

import aiohttp
from microsoft_agents.activity import ConversationReference
from microsoft_agents.hosting.core import TurnContext
from microsoft_agents.hosting.core.authorization import Connections

from adapters.teams.errors import map_error
from adapters.teams.graph import MEMBERS_PERMISSION, GraphRefused, team_owners
from adapters.teams.inbound import TeamsInbound
from bridge.model import ChatIdentity, Platform, Post, RoomAddress, SentRef
from bridge.ports import RoomUnavailable

log = logging.getLogger(__name__)

CONNECTOR_CLIENT_KEY = "ConnectorClient"  # where the SDK keeps a turn's connector client
ONLY_MENTIONS = (
    "So far the bot has received only messages that @mention it here: without resource-specific "
    "consent Teams delivers nothing else, so write @Pluto before a message for Pluto. To relay "
    "every message, have the team or chat owner grant the Pluto app its resource-specific consent "
    "(ChannelMessage.Read.Group for a team, ChatMessage.Read.Chat for a group chat) by installing "
    "its current version."
)
EVERY_MESSAGE = "Every message written here reaches the bot (resource-specific consent granted)."
TEAM_OWNERS = "In a team channel only the team's owners may link or unlink it."
NO_OWNERS = (
    "Microsoft Graph refused to list this team's owners, so any Pluto member may link this channel: "
    f"have a team owner grant the Pluto app the resource-specific permission {MEMBERS_PERMISSION} "
    "(install its current version in the team) so that only owners may."
)


class TeamsRooms(TeamsInbound):
    """The adapter's room half: posts with a header line, rosters, who may link."""

    _names: dict[str, dict[str, str]]  # room id -> Entra object id -> name (last roster)
    _aad_groups: dict[str, str]  # channel id -> its team's Entra group id (channelData.team.aadGroupId)
    _graph_refused: set[str]  # channels whose team's owners Graph would not list (no consent)
    _connections: Connections
    _graph_url: str
    _timeout: float

    def _room_reference(self, room: RoomAddress) -> ConversationReference:
        return ConversationReference.model_validate(
            {
                "channelId": "msteams",
                "serviceUrl": room.service_url or self._default_service_url,
                "conversation": {"id": room.room_id, "tenantId": room.workspace or None, "isGroup": True},
                "agent": {"id": self._bot_id},
            }
        )

    async def send_to_room(self, room: RoomAddress, post: Post, author: str) -> SentRef:
        """Post into the channel or chat, the author's name in bold on the first line."""
        header = f"<p><b>{html.escape(author, quote=False)}</b></p>" if author else ""
        try:
            return await self._send_with_reference(
                self._room_reference(room), Post(text=header + post.text, actions=post.actions)
            )
        except Exception as exc:
            cause = exc.__cause__ if exc.__cause__ is not None else exc
            if isinstance(cause, aiohttp.ClientResponseError) and cause.status in (403, 404):
                raise RoomUnavailable(
                    "the bot was removed from the room" if cause.status == 403 else "the room no longer exists"
                ) from exc
            raise map_error(exc) from exc

    async def room_members(self, room: RoomAddress) -> list[ChatIdentity] | None:
        """The roster of the chat or team (``GET /v3/conversations/{id}/members``)."""
        found: list[dict[str, Any]] = []

        async def callback(context: TurnContext) -> None:
            client: Any = context.turn_state.get(CONNECTOR_CLIENT_KEY)
            members = await client.conversations.get_conversation_members(room.room_id)
            found.extend(m.model_dump(by_alias=True) for m in members)

        try:
            await self._continue(self._room_reference(room), callback)
        except Exception as exc:
            log.info("Teams: cannot read the members of %s: %s", room, map_error(exc).reason)
            return None
        self._names[room.room_id] = {
            str(m["aadObjectId"]): str(m.get("name") or "") for m in found if m.get("aadObjectId")
        }
        return [ChatIdentity(Platform.TEAMS, room.workspace, uid) for uid in self._names[room.room_id]]

    async def room_member_names(self, room: RoomAddress) -> dict[str, str]:
        return dict(self._names.get(room.room_id, {}))

    async def can_manage(self, room: RoomAddress, identity: ChatIdentity) -> bool | None:
        """Group chat: any member. Team channel: the team's owners, as Graph lists them;
        None when Graph refuses for want of ``TeamMember.Read.Group`` (``room status``
        says so) or the team is not known yet."""
        kind = self._kinds.get(room.room_id)
        if kind == "groupChat":
            members = await self.room_members(room)
            return None if members is None else identity in members
        group = self._aad_groups.get(room.room_id)
        if kind != "channel" or group is None:
            return None
        try:
            owners = await team_owners(self._connections, self._graph_url, group, self._timeout)
        except GraphRefused as exc:
            log.warning("Teams: cannot tell the owners of team %s: %s", group, exc)
            self._graph_refused.add(room.room_id)
            return None
        self._graph_refused.discard(room.room_id)
        return identity.user_id in owners

    async def room_notes(self, room: RoomAddress) -> tuple[str, ...]:
        notes = [EVERY_MESSAGE if room.room_id in self._heard_unmentioned else ONLY_MENTIONS]
        if self._kinds.get(room.room_id) == "channel":
            notes.append(NO_OWNERS if room.room_id in self._graph_refused else TEAM_OWNERS)
        return tuple(notes)
