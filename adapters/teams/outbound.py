"""Outbound Teams: every call goes through the SDK's connector client against the stored
conversation reference (its ``serviceUrl``); a first message creates the 1:1 conversation."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from microsoft_agents.activity import Activity, ChannelAccount, ConversationParameters, ConversationReference
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import TurnContext
from microsoft_agents.hosting.core.authorization import AuthenticationConstants

from adapters.teams.cards import build_activity
from adapters.teams.errors import map_error
from bridge.model import Destination, Post, SentRef
from bridge.ports import Adapter, PermanentError


class TeamsOutbound(Adapter):
    """The adapter's sending half (``TeamsAdapter`` builds the SDK's ``CloudAdapter``)."""

    _cloud: CloudAdapter
    _app_id: str
    _bot_id: str
    _default_service_url: str
    _timeout: float

    def _reference(self, activity: Activity) -> ConversationReference:
        ref = activity.get_conversation_reference()
        ref.activity_id = None
        ref.locale = None
        ref.request_id = None
        if ref.conversation is not None and not ref.conversation.tenant_id:
            ref.conversation.tenant_id = _channel_tenant(activity)
        return ref

    async def send(self, dest: Destination, post: Post) -> SentRef:
        """Send into the person's chat: continue the stored conversation, or (no room)
        create the 1:1 conversation first with POST /v3/conversations."""
        reference = _stored_reference(dest, dest.room)
        if dest.room is None:
            reference = await self._create_conversation(dest, reference)
        return await self._send_with_reference(reference, post)

    async def _create_conversation(
        self, dest: Destination, reference: ConversationReference
    ) -> ConversationReference:
        tenant = dest.identity.workspace or (
            reference.conversation.tenant_id if reference.conversation else None
        )
        user_id = reference.user.id if reference.user is not None else dest.identity.user_id
        wire: dict[str, Any] = {"isGroup": False, "bot": {"id": self._bot_id}, "members": [{"id": user_id}]}
        if tenant:
            wire.update(tenantId=tenant, channelData={"tenant": {"id": tenant}})
        params = ConversationParameters.model_validate(wire)
        created: list[ConversationReference] = []

        async def capture(context: TurnContext) -> None:
            created.append(self._reference(context.activity))

        service_url = reference.service_url or self._default_service_url
        await self._call(
            self._cloud.create_conversation(
                self._app_id,
                "msteams",
                service_url,
                AuthenticationConstants.AGENTS_SDK_SCOPE,
                params,
                capture,
            )
        )
        new = created[0]
        new.user = reference.user or ChannelAccount(id=user_id)
        new.agent = reference.agent or ChannelAccount(id=self._bot_id)
        return new

    async def _send_with_reference(self, reference: ConversationReference, post: Post) -> SentRef:
        activity = build_activity(post)
        sent: list[str] = []

        async def callback(context: TurnContext) -> None:
            response = await context.send_activity(activity)
            sent.append(response.id if response is not None and response.id else "")

        await self._continue(reference, callback)
        conversation = reference.conversation.id if reference.conversation else ""
        return SentRef(room=conversation, message_id=sent[0] if sent else "")

    async def edit(self, dest: Destination, ref: SentRef, post: Post) -> None:
        """Replace a sent message (PUT activity) at the serviceUrl stored in ``dest``;
        ``post.actions == ()`` retires the card."""
        activity = build_activity(dataclasses.replace(post, reply_to=None))
        activity.id = ref.message_id

        async def callback(context: TurnContext) -> None:
            await context.update_activity(activity)

        await self._continue(_stored_reference(dest, ref.room), callback)

    async def delete(self, dest: Destination, ref: SentRef) -> None:
        """Delete a sent message (DELETE activity) at the serviceUrl stored in ``dest``."""

        async def callback(context: TurnContext) -> None:
            await context.delete_activity(ref.message_id)

        await self._continue(_stored_reference(dest, ref.room), callback)

    async def _continue(
        self, reference: ConversationReference, callback: Callable[[TurnContext], Awaitable[None]]
    ) -> None:
        activity = reference.get_continuation_activity()
        # The SDK would otherwise address every send as a reply to this synthetic id.
        activity.id = None
        await self._call(self._cloud.continue_conversation(self._app_id, activity, callback))

    async def _call(self, coro: Awaitable[Any]) -> Any:
        try:
            async with asyncio.timeout(self._timeout):
                return await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise map_error(exc) from exc


def _stored_reference(dest: Destination, room: str | None) -> ConversationReference:
    """The conversation reference the core stored for ``dest`` (captured from an inbound
    Activity: serviceUrl, tenant, bot, user), pointed at ``room`` when given."""
    if not dest.address:
        raise PermanentError(
            "no stored Teams address for this person (they must message or install the app first)"
        )
    reference = ConversationReference.model_validate(dict(dest.address))
    if room is not None and reference.conversation is not None:
        reference.conversation.id = room
    return reference


def _channel_tenant(activity: Activity) -> str | None:
    data = activity.channel_data
    if isinstance(data, dict):
        tenant = data.get("tenant")
        if isinstance(tenant, dict) and tenant.get("id"):
            return str(tenant["id"])
    return None
