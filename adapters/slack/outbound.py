"""Outbound Slack: DMs opened per person, chat.postMessage/update/delete with the token of
the person's workspace, and the history search that finds a post sent before a crash."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import build_blocks, notification_text
from adapters.slack.errors import map_slack_error
from bridge.model import ChatIdentity, Destination, Post, SentRef
from bridge.ports import Adapter, RecipientUnreachable

log = logging.getLogger(__name__)


class SlackOutbound(Adapter):
    """The adapter's sending half (``SlackAdapter`` holds the clients per workspace)."""

    _clients: dict[str, AsyncWebClient]
    _dms: dict[ChatIdentity, str]

    def _client(self, team: str) -> AsyncWebClient:
        client = self._clients.get(team)
        if client is None:
            raise RecipientUnreachable(f"slack: no bot token for workspace {team}")
        return client

    async def _open_dm(self, identity: ChatIdentity) -> str:
        """The bot's DM channel with a person (conversations.open), cached in memory."""
        channel = self._dms.get(identity)
        if channel is None:
            client = self._client(identity.workspace)
            try:
                resp = await client.conversations_open(users=identity.user_id)
            except Exception as exc:
                raise map_slack_error(exc) from exc
            channel = str(resp["channel"]["id"])
            self._dms[identity] = channel
        return channel

    async def send(self, dest: Destination, post: Post) -> SentRef:
        """chat.postMessage into the person's DM (opened when ``dest.room`` is unknown)."""
        client = self._client(dest.identity.workspace)
        channel = dest.room or await self._open_dm(dest.identity)
        try:
            resp = await client.chat_postMessage(
                channel=channel,
                text=notification_text(post),
                blocks=build_blocks(post.text, post.actions),
                thread_ts=post.thread,
                unfurl_links=False,
                unfurl_media=False,
                mrkdwn=True,
            )
        except Exception as exc:
            raise map_slack_error(exc) from exc
        return SentRef(room=str(resp["channel"]), message_id=str(resp["ts"]), thread=post.thread)

    async def find_sent(self, dest: Destination, post: Post, since: float) -> SentRef | None:
        """The bot's message with this post's text in the person's DM (or the post's thread)
        since ``since``: conversations.history / conversations.replies (scope im:history)."""
        if not dest.room:
            return None  # no DM was ever opened: nothing can have arrived
        client = self._client(dest.identity.workspace)
        oldest = f"{max(0.0, since - 1):.6f}"  # a second's leeway between the two clocks
        try:
            if post.thread:
                resp = await client.conversations_replies(channel=dest.room, ts=post.thread, oldest=oldest, limit=100)
            else:
                resp = await client.conversations_history(channel=dest.room, oldest=oldest, limit=100)
        except Exception as exc:
            raise map_slack_error(exc) from exc
        text = notification_text(post)
        for message in resp.get("messages") or []:
            if message.get("bot_id") and message.get("text") == text and message.get("ts") != post.thread:
                return SentRef(room=dest.room, message_id=str(message["ts"]), thread=post.thread)
        return None

    async def edit(self, dest: Destination, ref: SentRef, post: Post) -> None:
        """chat.update with the token of the person's workspace: new text and blocks (no
        actions block when ``post.actions`` is empty, which retires the buttons)."""
        client = self._client(dest.identity.workspace)
        try:
            await client.chat_update(
                channel=ref.room,
                ts=ref.message_id,
                text=notification_text(post),
                blocks=build_blocks(post.text, post.actions),
            )
        except Exception as exc:
            raise map_slack_error(exc) from exc

    async def delete(self, dest: Destination, ref: SentRef) -> None:
        """chat.delete of a post the bot sent, with the token of the person's workspace."""
        client = self._client(dest.identity.workspace)
        try:
            await client.chat_delete(channel=ref.room, ts=ref.message_id)
        except Exception as exc:
            raise map_slack_error(exc) from exc

    async def profile_email(self, identity: ChatIdentity) -> str | None:
        """The person's email from users.info (needs ``users:read.email``), to suggest their
        Pluto account on the sign-in page."""
        client = self._clients.get(identity.workspace)
        if client is None:
            return None
        try:
            resp = await client.users_info(user=identity.user_id)
        except SlackClientError as exc:
            log.info("slack: users.info %s failed: %s", identity, exc)
            return None
        email = ((resp.get("user") or {}).get("profile") or {}).get("email")
        return str(email) if email else None
