"""Inbound Teams: Activities become events for the core's runner; card actions (invokes)
are answered inline with the core's reply."""

from __future__ import annotations

import asyncio
import functools
import html
import logging
import re
from collections.abc import Mapping
from typing import Any

from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    AdaptiveCardInvokeResponse,
    ConversationReference,
    InvokeResponse,
)
from microsoft_agents.hosting.core import TurnContext

from adapters.teams.cards import CARD_CONTENT_TYPE, CARD_VERB, REASON_INPUT_ID, build_card
from adapters.teams.outbound import TeamsOutbound, _channel_tenant
from bridge.inbound.interaction import Interaction
from bridge.inbound.parse import parse_command
from bridge.inbound.runner import Runner
from bridge.model import (
    COMMAND_NAMES,
    ActionEvent,
    ChatEvent,
    ChatIdentity,
    CommandEvent,
    ContactEvent,
    MessageEvent,
    Platform,
    Post,
    Reply,
    RoomAddress,
    RoomChange,
    RoomEvent,
    SentRef,
)
from bridge.render import to_plain

log = logging.getLogger(__name__)

MESSAGE_RESPONSE_TYPE = "application/vnd.microsoft.activity.message"
ACK_DEADLINE = 5.0  # seconds: an Activity's HTTP answer waits at most this long for the journal
INVOKE_WAIT = 10.0  # seconds a card action waits for the core's reply (Teams shows an error after ~15 s)
ROOM_KINDS = ("channel", "groupChat")  # conversation types the bridge links as rooms
_AT_TAG = re.compile(r"<at(?:\s[^>]*)?>(.*?)</at>", re.IGNORECASE | re.DOTALL)


def typed_text(text: str, text_format: str | None, mentions: Mapping[str, str]) -> str:
    """What the person typed, converted exactly once. Teams delivers typed text raw
    (``textFormat: plain``): only the ``<at>`` tags in ``mentions`` (those a mention entity
    vouches for) are markup, each replaced by its value (the bot's own by nothing);
    everything else, entities and tags typed by the person included, stays as typed. Text
    that says it is HTML (``textFormat: xml``) has its entities decoded, once."""
    if mentions:
        pattern = re.compile("|".join(re.escape(tag) for tag in sorted(mentions, key=len, reverse=True)))
        text = pattern.sub(lambda m: mentions[m.group(0)], text)
    if (text_format or "plain") == "xml":
        text = html.unescape(text)
    return text.strip()


class TeamsInbound(TeamsOutbound):
    """The adapter's receiving half: turns, translation and the answers shown."""

    _runner: Runner | None
    _kinds: dict[str, str]  # room id -> "channel" or "groupChat", as last seen
    _heard_unmentioned: set[str]  # rooms where a message without @mention reached the bot
    _aad_groups: dict[str, str]  # channel id -> its team's Entra group id

    async def on_turn(self, context: TurnContext) -> None:
        """Translate one inbound Activity and hand it to the core's runner: Teams gets its
        answer once the event is journalled; invokes are answered inline with the reply."""
        activity = context.activity
        if activity.type == ActivityTypes.invoke:
            await self._on_invoke(context)
            return
        event = self.translate(activity)
        runner = self._runner
        if event is None or runner is None:
            return
        reference = self._reference(activity)

        async def answer(reply: Reply | None) -> None:
            if reply is not None:
                await self._show_reply(event.identity, reply, reference)

        deadline = asyncio.get_running_loop().time() + ACK_DEADLINE
        await runner.submit(Interaction(event, answer=answer, deadline=deadline))

    def translate(self, activity: Activity) -> ChatEvent | None:
        """The ``ChatEvent`` for a non-invoke Activity, or None when it is not for the core."""
        sender = activity.from_property
        if sender is None or activity.conversation is None or not sender.aad_object_id:
            return None  # only Entra-identified people: the id a client cannot choose
        if sender.id in (self._bot_id, self._app_id) or (
            activity.recipient is not None and sender.id == activity.recipient.id
        ):
            return None  # our own message echoed back: never relay it
        common = self._common(activity)
        if common["shared"] is not None:
            return self._room_event(activity, common)
        if activity.type == ActivityTypes.installation_update:
            if (activity.action or "").startswith("add"):
                return ContactEvent(**common)
            return None
        if activity.type == ActivityTypes.conversation_update:
            added = activity.members_added or []
            bot_ids = {self._bot_id, activity.recipient.id if activity.recipient else ""}
            if any(m.id in bot_ids for m in added):
                return ContactEvent(**common)
            return None
        if activity.type != ActivityTypes.message:
            return None
        value = activity.value
        if isinstance(value, dict) and isinstance(value.get("action"), str) and not activity.text:
            # Action.Submit (older clients fall back to it): the card's data plus inputs.
            return ActionEvent(
                **common,
                action_id=value["action"],
                reason=str(value.get(REASON_INPUT_ID) or "").strip(),
                message=SentRef(activity.conversation.id, activity.reply_to_id or "")
                if activity.reply_to_id
                else None,
            )
        text = self._plain_text(activity)
        if not text:
            return None
        if parse_command(text)[0] in COMMAND_NAMES:  # commands are typed as words here
            return CommandEvent(**common, text=text)
        return MessageEvent(**common, text=text, reply_to=activity.reply_to_id or None)

    def _room_event(self, activity: Activity, common: dict[str, Any]) -> ChatEvent | None:
        """An activity in a team channel or group chat: the bot removed or added, a message."""
        bot_ids = {self._bot_id, activity.recipient.id if activity.recipient else ""}
        if activity.type == ActivityTypes.conversation_update:
            if any(m.id in bot_ids for m in activity.members_removed or []):
                return RoomEvent(**common, change=RoomChange.BOT_REMOVED)
            if any(m.id in bot_ids for m in activity.members_added or []):
                return RoomEvent(**common, change=RoomChange.BOT_ADDED)
            return None
        if activity.type == ActivityTypes.installation_update:
            added = (activity.action or "").startswith("add")
            return RoomEvent(**common, change=RoomChange.BOT_ADDED if added else RoomChange.BOT_REMOVED)
        if activity.type in (ActivityTypes.message_update, ActivityTypes.message_delete):
            # Edits and deletions are not carried to Pluto: the core tells the author once.
            # Its id is the message's own: made distinct, or the core drops it as a repeat.
            edited = activity.type == ActivityTypes.message_update
            stamp = activity.timestamp.isoformat() if activity.timestamp else ""
            common = {**common, "event_id": f"{activity.type}:{common['event_id']}:{stamp}"}
            return RoomEvent(**common, change=RoomChange.EDITED if edited else RoomChange.DELETED)
        if activity.type != ActivityTypes.message:
            return None
        room_id = common["shared"].room_id
        self._kinds[room_id] = (activity.conversation.conversation_type if activity.conversation else None) or ""
        team = activity.channel_data.get("team") if isinstance(activity.channel_data, dict) else None
        if isinstance(team, dict) and team.get("aadGroupId"):
            self._aad_groups[room_id] = str(team["aadGroupId"])  # Graph's id of the team (its owners)
        if not self._mentions_bot(activity):
            self._heard_unmentioned.add(room_id)  # consent granted: Teams sends everything
        text = self._plain_text(activity)
        if not text:
            return None
        if parse_command(text)[0] in COMMAND_NAMES:
            return CommandEvent(**common, text=text)
        # A reply in a channel thread: "<channel>;messageid=<root>" names the post replied to.
        _, _, root = (activity.conversation.id if activity.conversation else "").partition(";messageid=")
        return MessageEvent(**common, text=text, reply_to=activity.reply_to_id or root or None)

    def _mentions_bot(self, activity: Activity) -> bool:
        for entity in activity.entities or []:
            mentioned = entity.model_dump(by_alias=True).get("mentioned") or {}
            if entity.type == "mention" and mentioned.get("id") in (self._bot_id, self._app_id):
                return True
        return False

    def _common(self, activity: Activity) -> dict[str, Any]:
        sender = activity.from_property
        conversation = activity.conversation
        assert sender is not None and conversation is not None
        tenant = conversation.tenant_id or _channel_tenant(activity) or ""
        kind = conversation.conversation_type
        shared = None
        if kind in ROOM_KINDS:
            room_id = (conversation.id or "").split(";")[0]
            shared = RoomAddress(
                Platform.TEAMS, tenant, room_id, service_url=activity.service_url or "", name=conversation.name or ""
            )
        return {
            "shared": shared,
            # Entra object id within the tenant: stable, and set by Teams, never by a client.
            "identity": ChatIdentity(Platform.TEAMS, tenant, sender.aad_object_id or ""),
            "event_id": activity.id or "",
            "room": conversation.id,
            "display_name": sender.name or "",
            "is_private": kind in (None, "personal"),
            "address": self._reference(activity).model_dump(mode="json", by_alias=True, exclude_none=True),
        }

    def _plain_text(self, activity: Activity) -> str:
        """What the person typed (see ``typed_text``); mention tags from the entities."""
        mentions: dict[str, str] = {}
        for entity in activity.entities or []:
            data = entity.model_dump(by_alias=True)
            mentioned = data.get("mentioned") or {}
            tag = str(data.get("text") or "")
            if entity.type == "mention" and tag:
                bot = mentioned.get("id") in (self._bot_id, self._app_id)
                mentions[tag] = "" if bot else "@" + (_AT_TAG.sub(r"\1", tag) or str(mentioned.get("name") or ""))
        return typed_text(activity.text or "", activity.text_format, mentions)

    async def _on_invoke(self, context: TurnContext) -> None:
        activity = context.activity
        response: AdaptiveCardInvokeResponse
        runner = self._runner
        if activity.name != "adaptiveCard/action" or runner is None:
            await _set_invoke_response(context, 501, None)
            return
        value = activity.value if isinstance(activity.value, dict) else {}
        action = value.get("action") or {}
        data = action.get("data") or {}
        if action.get("verb") != CARD_VERB or not isinstance(data.get("action"), str):
            response = AdaptiveCardInvokeResponse(
                status_code=400,
                type="application/vnd.microsoft.error",
                value={"code": "BadRequest", "message": "unknown action"},
            )
            await _set_invoke_response(context, 200, response)
            return
        conversation = activity.conversation
        assert conversation is not None
        event = ActionEvent(
            **self._common(activity),
            action_id=data["action"],
            reason=str(data.get(REASON_INPUT_ID) or "").strip(),
            message=SentRef(conversation.id, activity.reply_to_id) if activity.reply_to_id else None,
        )
        loop = asyncio.get_running_loop()
        answered: asyncio.Future[Reply | None] = loop.create_future()
        reference = self._reference(activity)

        async def answer(reply: Reply | None) -> None:
            if not answered.done():
                answered.set_result(reply)
            # Only new buttons need a message of their own (the card response says the rest).
            if reply is not None and reply.actions:
                await self._show_reply(event.identity, Reply(texts=reply.texts[-1:], actions=reply.actions), reference)

        await runner.submit(Interaction(event, answer=answer, deadline=loop.time() + ACK_DEADLINE))
        try:  # the invoke's response carries the core's reply: wait for it (in the person's turn)
            reply = await asyncio.wait_for(asyncio.shield(answered), INVOKE_WAIT)
        except TimeoutError:
            log.warning("Teams card action %s: no answer within %.0fs", event.event_id, INVOKE_WAIT)
            response = AdaptiveCardInvokeResponse(
                status_code=500,
                type="application/vnd.microsoft.error",
                value={"code": "InternalError", "message": "the action could not be completed"},
            )
            await _set_invoke_response(context, 200, response)
            return
        if reply is not None and reply.replace is not None:
            # The answered card is Teams' way to answer a press and shows the outcome; the
            # texts as chat messages too would repeat it for good (no ephemeral messages in
            # Teams).
            response = AdaptiveCardInvokeResponse(
                status_code=200, type=CARD_CONTENT_TYPE, value=build_card(reply.replace, with_text=True)
            )
        else:
            # Teams shows a message response as plain text next to the card: no HTML tags.
            texts = reply.texts if reply is not None else ()
            response = AdaptiveCardInvokeResponse(
                status_code=200,
                type=MESSAGE_RESPONSE_TYPE,
                value="\n\n".join(to_plain(t) for t in texts),
            )
        await _set_invoke_response(context, 200, response)

    async def _show_reply(self, identity: ChatIdentity, reply: Reply, reference: ConversationReference) -> None:
        """Teams has no ephemeral messages in a personal chat: replies are messages there,
        sent as the runner's front-of-lane deliveries (paced with the chat's deliveries,
        throttling retried with the outbox's policy). The invoke response of a card action
        is the one immediate answer (``_on_invoke``): Teams waits for it on the request."""
        assert self._runner is not None
        texts = list(reply.texts) or ([""] if reply.actions else [])
        for i, text in enumerate(texts):
            post = Post(text=text, actions=reply.actions if i == len(texts) - 1 else ())
            send = functools.partial(self._send_with_reference, reference, post)
            if await self._runner.deliver(identity, send) is None:
                return


async def _set_invoke_response(
    context: TurnContext, status: int, body: AdaptiveCardInvokeResponse | None
) -> None:
    payload = body.model_dump(mode="json", by_alias=True, exclude_none=True) if body is not None else None
    await context.send_activity(
        Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(status=status, body=payload))
    )
