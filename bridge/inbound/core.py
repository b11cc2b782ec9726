"""The core's entry point for chat events (the adapters' ``EventSink``).

Each (platform, event id) is journalled durably first (``record``; adapters that can hold
the platform's acknowledgement call it before acknowledging), then handled once, then
marked finished; an event journalled but never finished (the process died) is resumed at
the next start (``resume``). The person's room and address are remembered so the bridge
can reach them later; the event goes to the command set, the relay or the action handler,
and the answer comes back rendered for the platform.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping

from bridge import notices
from bridge.actions import ItemActions, parse_action
from bridge.bulk.command import is_bulk_action
from bridge.inbound.commands import Commands
from bridge.inbound.contacts import parse_contact_action
from bridge.inbound.interaction import ASKS_REASON
from bridge.inbound.parse import parsed
from bridge.inbound.people import PEOPLE
from bridge.inbound.relay import PICK, Answer, Relay
from bridge.journal import event_to_json
from bridge.metrics import Metrics
from bridge.model import (
    Action,
    ActionEvent,
    ChatEvent,
    CommandEvent,
    ContactEvent,
    MessageEvent,
    Platform,
    Post,
    Reply,
    RoomEvent,
)
from bridge.ports import Adapter
from bridge.profile import Profiles
from bridge.render import escape, render, to_plain
from bridge.retry import AnswerDelivery
from bridge.rooms.command import is_room_action
from bridge.rooms.inbound import RoomInbound
from bridge.rooms.tell import Teller
from bridge.store.prompts import Prompts
from bridge.store.records import Link, LinkStatus
from bridge.store.store import Store

log = logging.getLogger(__name__)

NO_REASON = frozenset({"-", "\u2013", "\u2014"})  # "no reason": a hyphen, or what phones make of it


class Inbound:
    """Turns chat events into LMS actions and answers."""

    def __init__(
        self,
        store: Store,
        adapters: Mapping[Platform, Adapter],
        commands: Commands,
        relay: Relay,
        actions: ItemActions,
        metrics: Metrics | None = None,
        answers: AnswerDelivery | None = None,
        rooms: RoomInbound | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()
        self.rooms = rooms  # what happens in linked group rooms (bridge.rooms.inbound)
        self.answers = answers or AnswerDelivery()
        self.teller = Teller(store, adapters, self.answers)
        self.store = store
        self.adapters = adapters
        self.profiles = Profiles.of(adapters)
        self.prompts = Prompts(store)
        self.commands = commands
        self.relay = relay
        self.actions = actions
        self._claimed: set[tuple[Platform, str]] = set()  # journalled by this process, not finished

    async def record(self, event: ChatEvent) -> bool:
        """Journal ``event`` durably; False for a repeat (handled, or being handled). An
        adapter calls this before acknowledging the platform, then hands the event over."""
        key = (event.identity.platform, event.event_id)
        if key in self._claimed:
            return False
        if not await self.store.journal_event(key[0], key[1], event_to_json(event)):
            return False
        self._claimed.add(key)
        return True

    async def discard(self, event: ChatEvent) -> None:
        """Close a journalled event the platform would not have acknowledged (the
        interaction expired): it is not handled, and not resumed at the next start."""
        key = (event.identity.platform, event.event_id)
        self._claimed.discard(key)
        await self.store.finish_event(key[0], key[1])

    def reply(
        self, platform: Platform, html: str | None, replace_html: str | None = None, actions: tuple[Action, ...] = ()
    ) -> Reply | None:
        """Safe HTML rendered into the platform's markup and cut to its limit; with
        ``replace_html``, also the new content of the pressed message."""
        if not html:
            return None
        caps = self.adapters[platform].capabilities
        replace = None
        if replace_html:
            chunks = render(replace_html, caps.markup, caps.max_text, caps.measure)
            replace = Post(text=chunks[-1], fallback=to_plain(replace_html)) if chunks else None
        return Reply(
            texts=tuple(render(html, caps.markup, caps.max_text, caps.measure)),
            actions=actions[: caps.max_actions],
            replace=replace,
        )

    async def __call__(self, event: ChatEvent) -> Reply | None:
        platform = event.identity.platform
        key = (platform, event.event_id)
        if key not in self._claimed and not await self.record(event):
            log.debug("dropping repeated event %s %s", platform.value, event.event_id)
            self.metrics.inbound.labels(platform.value, type(event).__name__, "duplicate").inc()
            return None
        try:
            answer = await self.handle(event)
        finally:
            self._claimed.discard(key)
        if answer is None or not answer.finished:  # a decision marked it with its outcome
            # Cancelled (shutting down) skips this: the event stays unfinished and is resumed.
            await self.store.finish_event(platform, event.event_id, keep=answer is not None and answer.keep_event)
        if answer is None:
            return None
        if isinstance(event, CommandEvent) and not event.is_private and answer.html:
            event = parsed(event)
            if not self.adapters[platform].capabilities.private_replies:
                told = await self._answer_privately(event, answer)
                if told is None:
                    return None
                answer = told
        # The adapter shows it: in the chat as front-of-lane deliveries (``Runner.deliver``).
        return self.reply(platform, answer.html, answer.replace_html, answer.actions)

    async def handle(self, event: ChatEvent) -> Answer | None:
        """Act on a journalled event; what to show the person, if anything."""
        if isinstance(event, CommandEvent):
            event = parsed(event)
        platform = event.identity.platform
        counted = self.metrics.inbound.labels
        kind = type(event).__name__
        address = dict(event.address) if event.address is not None else None
        first_contact = False
        # The event's link, read once for the whole event (handlers take it from here).
        link = await self.store.link_for(event.identity)
        if event.is_private and self._room_of_link_matches(event, link):
            first_contact = await self.store.remember_contact(event.identity, event.display_name, event.room, address)
            if link is not None:  # as remember_contact left it
                link = dataclasses.replace(link, room=event.room, address=address or link.address)
        if isinstance(event, ContactEvent) and not first_contact:
            if link is None or link.status != LinkStatus.INACTIVE:
                return None  # reopening the chat or a second install notice: greet once
        try:
            if isinstance(event, ActionEvent):
                answer = await self._action(event, link)
            else:
                answer = await self._handle(event, link)
        except Exception:
            log.exception("failed to handle %s event %s", platform.value, event.event_id)
            counted(platform.value, kind, "error").inc()
            return Answer(notices.failed())
        counted(platform.value, kind, "handled").inc()
        return answer

    async def _answer_privately(self, event: CommandEvent, answer: Answer) -> Answer | None:
        """A command typed where others read along (a Telegram group, a Teams channel): its
        answer may hold a sign-in address or the person's own items, so it goes to their
        private chat with the bot (paced in that chat's lane); the shared room only learns
        where to look."""
        platform = event.identity.platform
        if not await self.teller.tell(event.identity, answer.html, event.shared, answer.actions):
            return Answer(notices.cannot_answer_privately(self.profiles[platform], event.name))
        if event.shared is not None:
            return None  # a room the bridge links: nothing of a command shows there
        return Answer(notices.answered_privately())

    def _room_of_link_matches(self, event: ChatEvent, link: Link | None) -> bool:
        """Whether ``event`` may update how the person's link reaches them. A private chat
        is one conversation per person; an event claiming another one (a forged Teams
        conversation with its own service URL) must not redirect where their Pluto
        messages go. A link that could not be reached any more may move."""
        if link is None or not link.active or not link.room or link.room == event.room:
            return True
        log.warning("%s wrote from chat %s, not their linked chat: its address is not kept", event.identity, event.room)
        return False

    async def _action(self, event: ActionEvent, link: Link | None) -> Answer | None:
        """A button press: act on the item as the person who pressed it."""
        platform = event.identity.platform
        if link is None:
            return Answer(notices.how_to_link(self.profiles[platform]))
        if is_bulk_action(event.action_id) and self.commands.bulk is not None:
            return await self.commands.bulk.action(link, event.action_id)
        if is_room_action(event.action_id) and self.commands.rooms is not None:
            return await self.commands.rooms.action(link, event.action_id)
        if event.action_id.startswith(PEOPLE + ":"):
            return await self.commands.people.action(link, event, event.action_id)
        if parse_contact_action(event.action_id) is not None:
            return await self.commands.contact_button(link, event.action_id, self.profiles[platform])
        if event.action_id.startswith(PICK + ":"):
            picked = await self.relay.pick(link, event.action_id)
            return Answer(picked.html, replace_html=picked.html)
        if event.action_id.startswith(ASKS_REASON) and event.message is not None:
            # The adapter asked for the reason: the decision waits for the reply (a restart too).
            action_id = event.action_id.removeprefix(ASKS_REASON)
            await self.prompts.open(event.identity, event.message, action_id, event.event_id)
            return None
        return await self._decide(link, event.action_id, event.reason, event)

    async def _decide(self, link: Link, action_id: str, reason: str, event: ChatEvent) -> Answer:
        """Act on the item ``action_id`` names, as ``link``'s person; ``event`` (the press or
        the reason typed) is marked processed in the same write as the outcome."""
        parsed = parse_action(action_id)
        finish = (event.identity.platform, event.event_id)
        outcome = await self.actions.decide(link, parsed[0], parsed[1], reason.strip(), finish) if parsed else None
        if outcome is None:
            # Not one of this person's items: a stale button, or somebody else's.
            return Answer("<p>That button is no longer active.</p>")
        return Answer(outcome.html, replace_html=outcome.retired_html, finished=outcome.finished)

    async def _reason_given(self, link: Link, event: MessageEvent) -> Answer | None:
        """A reply to a reason prompt decides, with the reply as the reason; None when the
        replied-to message is no prompt of this person's."""
        if event.reply_to is None:
            return None
        prompt = await self.prompts.take(event.identity, event.room, event.reply_to)
        if prompt is None:
            return None
        if prompt.answered:
            return Answer(notices.prompt_answered())
        typed = event.text.strip()
        return await self._decide(link, prompt.action_id, "" if typed in NO_REASON else typed, event)

    async def _handle(self, event: ChatEvent, link: Link | None) -> Answer | None:
        platform = event.identity.platform
        welcome_back = ""
        if link is not None and link.status == LinkStatus.INACTIVE and event.is_private:
            # The platform could not reach them before (blocked, app removed); now it can.
            await self.store.set_link_status(link.id, LinkStatus.ACTIVE)
            link = await self.store.link_for(event.identity)
            welcome_back = "<p>Welcome back: your Pluto link is active again.</p>"
        answer = await self._respond(event, link, platform)
        if isinstance(answer, Answer):
            # A written message pressed nothing: the copies are retired by their queued edits.
            return dataclasses.replace(answer, html=welcome_back + answer.html, replace_html=None)
        return Answer(welcome_back + (answer or "")) if welcome_back or answer else None

    async def _respond(self, event: ChatEvent, link: Link | None, platform: Platform) -> str | Answer | None:
        if isinstance(event, CommandEvent):
            return await self.commands.run(event, link)
        if isinstance(event, ContactEvent):
            if link is None:
                return notices.how_to_link(self.profiles[platform])
            return f"<p>Welcome back, {escape(link.lms_fullname)}. Your Pluto messages arrive here.</p>"
        if isinstance(event, RoomEvent):
            if self.rooms is not None:
                await self.rooms.changed(event)
            return None
        if isinstance(event, MessageEvent):
            if not event.is_private:
                if self.rooms is not None and event.shared is not None:
                    await self.rooms.message(event)  # it tells the person privately, if anything
                return None  # only private chats and linked rooms are relayed
            if link is None:
                return notices.how_to_link(self.profiles[platform])
            if (decided := await self._reason_given(link, event)) is not None:
                return decided
            if link.status == LinkStatus.NEEDS_SIGNIN:
                return notices.signin_lost(self.profiles[platform], "Not sent")
            if not link.active:
                return f"<p>Not sent: this link is inactive ({escape(link.status_reason)}).</p>"
            if (held := await self.commands.people.held(link, event)) is not None:
                return held
            return await self.relay.relay(link, event)
        return None
