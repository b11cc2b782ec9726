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
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sandbox.teams import Conversation, TeamsUser

CHANNEL_CONSENT = "ChannelMessage.Read.Group"
CHAT_CONSENT = "ChatMessage.Read.Chat"


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
    conversations: dict[str, Conversation]

    def add_group_chat(self, chat_id: str, name: str, *, consent: bool = True) -> Conversation:
        """A group chat with the bot in it; ``consent``: ``ChatMessage.Read.Chat`` granted."""
        from sandbox.teams import Conversation

        conv = Conversation(chat_id, self.tenant_id, "groupChat", [], name=name, consent=consent)
        self.conversations[chat_id] = conv
        return conv

    def add_team_channel(
        self, channel_id: str, team_id: str, name: str, *, team_name: str = "", consent: bool = True
    ) -> Conversation:
        """A channel of a team with the bot in it; ``consent``: ``ChannelMessage.Read.Group``."""
        from sandbox.teams import Conversation

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

    def _room_activity(self, kind: str, user: TeamsUser, conv: Conversation) -> dict[str, Any]:
        activity = self._base_activity(kind, user, conv)
        activity["conversation"].update(isGroup=True, name=conv.name)
        if conv.conversation_type == "channel":
            activity["channelData"].update(
                teamsChannelId=conv.id,
                teamsTeamId=conv.team_id,
                channel={"id": conv.id, "name": conv.name},
                team={"id": conv.team_id, "name": conv.team_name},
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
