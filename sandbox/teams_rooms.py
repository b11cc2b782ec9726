"""Rooms for the Teams sandbox: team channels and group chats the bot is added to.

What it models (Microsoft's documentation for bots in channels and group chats):

* A bot in a channel or group chat receives only the messages that @mention it, unless
  the app was granted resource-specific consent (RSC) for that team or chat:
  ``ChannelMessage.Read.Group`` (team channels) or ``ChatMessage.Read.Chat`` (group
  chats); then every message arrives. ``room_message`` answers None for a message Teams
  would not deliver to the bot.
* A reply in a channel thread arrives with the conversation id ``<channel>;messageid=<root>``
  and ``replyToId``; the bot may post into the channel or chat with the connector API.
* The roster (``GET /v3/conversations/{id}/members``) lists the people there.
* An edit arrives as ``messageUpdate`` (``channelData.eventType`` ``editMessage``).
* The bot removed from a team or chat: ``conversationUpdate`` with the bot in
  ``membersRemoved`` and the app's ``installationUpdate`` ``remove``; from then on posts
  answer 403 ``BotNotInConversationRoster``. Added back: ``membersAdded`` and ``add``.
* A team's owners are known to Microsoft Graph only: ``GET /v1.0/teams/{team-id}/members``
  (served under ``graph_url``; the team id is its Microsoft Entra group id, which a channel
  activity carries as ``channelData.team.aadGroupId``) lists ``conversationMember`` objects,
  ``roles`` ``["owner"]`` for an owner. With an app token the call needs the
  resource-specific permission ``TeamMember.Read.Group`` granted by the team (the app's
  manifest asks for it); without it Graph answers 403 ``Forbidden``.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

if TYPE_CHECKING:
    from sandbox.teams import Conversation, TeamsUser

CHANNEL_CONSENT = "ChannelMessage.Read.Group"
CHAT_CONSENT = "ChatMessage.Read.Chat"
MEMBERS_CONSENT = "TeamMember.Read.Group"
GRAPH_PREFIX = "/graph"  # where Graph is served on the sandbox (its graph_url)


@dataclass
class GraphTeam:
    """A team as Microsoft Graph knows it: its Entra group id, members and owners
    (Entra object ids), and whether it granted the app ``TeamMember.Read.Group``."""

    aad_group_id: str
    members: list[str] = field(default_factory=list)
    owners: set[str] = field(default_factory=set)
    members_consent: bool = True


class TeamsActivities(Protocol):
    """What ``TeamsRoomsMixin`` uses of ``SandboxTeams``: how an activity is built."""

    def _base_activity(self, kind: str, user: TeamsUser, conversation: Conversation) -> dict[str, Any]: ...


# The mixin is typed against what it needs; at run time it is a plain class.
if TYPE_CHECKING:
    _Host = TeamsActivities
else:
    _Host = object


class TeamsRoomsMixin(_Host):
    """The rooms half of ``SandboxTeams`` (which provides conversations and activities)."""

    app_id: str
    tenant_id: str
    base_url: str
    conversations: dict[str, Conversation]
    users: dict[str, TeamsUser]
    graph_teams: dict[str, GraphTeam]  # Entra group id -> the team
    _issued: dict[str, float]

    @property
    def graph_url(self) -> str:
        """Microsoft Graph's base URL on the sandbox (``https://graph.microsoft.com`` in Teams)."""
        return f"{self.base_url}{GRAPH_PREFIX}"

    @staticmethod
    def aad_group_id(team_id: str) -> str:
        """The Entra group id the sandbox gives the team ``team_id``."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, team_id))

    def graph_routes(self, app: web.Application) -> None:
        """Add the Graph endpoints the bridge uses to ``app``."""
        app.router.add_get(f"{GRAPH_PREFIX}/v1.0/teams/{{gid}}/members", self._graph_team_members)

    async def _graph_team_members(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        if self._issued.get(token, 0) <= time.time():
            return _graph_error(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
        team = self.graph_teams.get(request.match_info["gid"])
        if team is None:
            return _graph_error(404, "NotFound", "No team found with Group Id " + request.match_info["gid"])
        if not team.members_consent:
            return _graph_error(
                403,
                "Forbidden",
                "Missing role permissions on the request. API requires one of 'TeamMember.Read.Group, "
                "TeamMember.ReadWrite.All, TeamMember.Read.All'.",
            )
        by_aad = {u.aad_object_id: u for u in self.users.values()}
        value = [
            {
                "@odata.type": "#microsoft.graph.aadUserConversationMember",
                "id": f"{team.aad_group_id}##{aad}",
                "roles": ["owner"] if aad in team.owners else [],
                "displayName": by_aad[aad].name if aad in by_aad else "",
                "userId": aad,
                "tenantId": self.tenant_id,
            }
            for aad in team.members
        ]
        return web.json_response({"@odata.count": len(value), "value": value})

    def add_group_chat(self, chat_id: str, name: str, *, consent: bool = True) -> Conversation:
        """A group chat with the bot in it; ``consent``: ``ChatMessage.Read.Chat`` granted."""
        from sandbox.teams import Conversation

        conv = Conversation(chat_id, self.tenant_id, "groupChat", [], name=name, consent=consent)
        self.conversations[chat_id] = conv
        return conv

    def add_team_channel(
        self,
        channel_id: str,
        team_id: str,
        name: str,
        *,
        team_name: str = "",
        consent: bool = True,
        owners: Iterable[TeamsUser] = (),
        members_consent: bool = True,
    ) -> Conversation:
        """A channel of a team with the bot in it; ``consent``: ``ChannelMessage.Read.Group``;
        ``owners`` own the team; ``members_consent``: ``TeamMember.Read.Group`` granted."""
        from sandbox.teams import Conversation

        team = self.graph_teams.setdefault(self.aad_group_id(team_id), GraphTeam(self.aad_group_id(team_id)))
        team.members_consent = members_consent
        for owner in owners:
            team.owners.add(owner.aad_object_id)
            if owner.aad_object_id not in team.members:
                team.members.append(owner.aad_object_id)

        conv = Conversation(
            channel_id,
            self.tenant_id,
            "channel",
            [],
            name=name,
            team_id=team_id,
            team_name=team_name or team_id,
            consent=consent,
        )
        self.conversations[channel_id] = conv
        return conv

    def join_room(self, conversation_id: str, user: TeamsUser) -> None:
        """``user`` is in the chat or team."""
        conv = self.conversations[conversation_id]
        if user.id not in conv.members:
            conv.members.append(user.id)
        team = self.graph_teams.get(self.aad_group_id(conv.team_id)) if conv.team_id else None
        if team is not None and user.aad_object_id not in team.members:
            team.members.append(user.aad_object_id)

    def _room_activity(self, kind: str, user: TeamsUser, conv: Conversation) -> dict[str, Any]:
        activity = self._base_activity(kind, user, conv)
        activity["conversation"].update(isGroup=True, name=conv.name)
        if conv.conversation_type == "channel":
            activity["channelData"].update(
                teamsChannelId=conv.id,
                teamsTeamId=conv.team_id,
                channel={"id": conv.id, "name": conv.name},
                team={"id": conv.team_id, "name": conv.team_name, "aadGroupId": self.aad_group_id(conv.team_id)},
            )
        return activity

    def room_message(
        self,
        user: TeamsUser,
        conversation_id: str,
        text: str,
        *,
        reply_to_id: str | None = None,
        mention_bot: bool = False,
    ) -> dict[str, Any] | None:
        """``user`` writes in a channel or group chat; None when Teams would not deliver it
        to the bot (the bot out of the room, or no @mention and no consent)."""
        conv = self.conversations[conversation_id]
        if not conv.bot_in or not (mention_bot or conv.consent):
            return None
        activity = self._room_activity("message", user, conv)
        activity["textFormat"] = "plain"
        if mention_bot:
            text = f"<at>Pluto</at> {text}"
            activity["entities"] = [
                {"type": "mention", "text": "<at>Pluto</at>", "mentioned": {"id": f"28:{self.app_id}", "name": "Pluto"}}
            ]
        activity["text"] = text
        if reply_to_id:
            activity["replyToId"] = reply_to_id
            if conv.conversation_type == "channel":
                activity["conversation"]["id"] = f"{conv.id};messageid={reply_to_id}"
        return activity

    def room_edit(self, user: TeamsUser, conversation_id: str, message_id: str, text: str) -> dict[str, Any]:
        """``user`` edits their message: Teams sends ``messageUpdate`` (``eventType``
        ``editMessage``) with the new text, to a bot that received the message."""
        activity = self._room_activity("messageUpdate", user, self.conversations[conversation_id])
        activity.update(id=message_id, text=text, textFormat="plain")
        activity["channelData"]["eventType"] = "editMessage"
        return activity

    def bot_membership(self, conversation_id: str, user: TeamsUser, *, added: bool) -> list[dict[str, Any]]:
        """``user`` removes (or adds back) the app in the team or chat: the
        ``conversationUpdate`` and ``installationUpdate`` Teams sends, in that order."""
        conv = self.conversations[conversation_id]
        conv.bot_in = added
        update = self._room_activity("conversationUpdate", user, conv)
        update["membersAdded" if added else "membersRemoved"] = [{"id": f"28:{self.app_id}"}]
        install = self._room_activity("installationUpdate", user, conv)
        install["action"] = "add" if added else "remove"
        install["id"] = f"1{secrets.randbelow(10**12):012d}"
        return [update, install]


def _graph_error(status: int, code: str, message: str) -> web.Response:
    """Microsoft Graph's error shape."""
    return web.json_response({"error": {"code": code, "message": message}}, status=status)
