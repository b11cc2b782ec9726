"""Chat to LMS: what a linked person writes goes into the right conversation, as them.

The conversation is the one of the message they replied to (or the thread they wrote
in), else their current one: the one they last received from or picked with ``to``.
A reply to a message the bridge has no record of (a copy resent after a crash, an old
message, a bridge notice) is never sent to the current conversation on a guess: the
header the bridge wrote on top of the replied-to message names the conversation, or the
person is asked (a button per conversation; the text is kept until they pick one).
Refusals come back with the LMS's own reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from bridge import notices
from bridge.journal import event_from_json
from bridge.lms.api import LmsApi
from bridge.lms.errors import LmsError, LmsUnavailable, MessageTooLong, SendRefused, TokenRejected
from bridge.lms.refusals import explain_refusal
from bridge.lms.sent import find_sent
from bridge.model import Action, ConversationInfo, ConversationType, MessageEvent
from bridge.profile import Profiles
from bridge.render import chat_text_to_lms, escape, utf8_len
from bridge.store.records import Link, LinkStatus
from bridge.store.store import Store

log = logging.getLogger(__name__)

MAX_LMS_BYTES = 4096
PICK = "pick"  # button ids "pick:<conversation id>:<event id>"
PICK_CHOICES = 5
MAX_ACTION_ID = 64  # bytes (Telegram's callback_data cap, see Action)
HEADER_SEPARATOR = " · "  # between author and group name in the bridge's header (router.item_html)


class Target(NamedTuple):
    """Where a written message goes: a conversation, or a person whose private conversation
    the first send creates; ``info``, the bridge's record of the conversation when read."""

    conversation_id: int | None
    peer_id: int | None
    info: ConversationInfo | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """What the person is shown: safe HTML, buttons, and whether the event's text must be
    kept for a button press (a question about where it goes is open); ``replace_html``: the
    new content of a pressed message."""

    html: str
    actions: tuple[Action, ...] = ()
    keep_event: bool = False
    replace_html: str | None = None
    finished: bool = False  # the event's processed mark was written with its outcome


def pick_id(conversation_id: int, event_id: str) -> str:
    """The id of the button that sends a held message into ``conversation_id``."""
    return f"{PICK}:{conversation_id}:{event_id}"


def parse_pick(action_id: str) -> tuple[int, str] | None:
    """(conversation id, event id) of a pick button, or None for other buttons."""
    prefix, _, rest = action_id.partition(":")
    conversation, _, event_id = rest.partition(":")
    if prefix != PICK or not conversation.isdigit() or not event_id:
        return None
    return int(conversation), event_id


def by_header(infos: list[ConversationInfo], reply_text: str) -> ConversationInfo | None:
    """The conversation named by the header the bridge wrote on top of a delivered message
    (``Author`` or ``Author · Group``), when exactly one of the person's matches."""
    first = next((line.strip() for line in reply_text.splitlines() if line.strip()), "")
    author, _, group = first.partition(HEADER_SEPARATOR)
    if group:
        matches = [i for i in infos if i.type == ConversationType.GROUP and i.name == group.strip()]
    else:
        matches = [i for i in infos if i.type == ConversationType.INDIVIDUAL and i.name == author.strip()]
    return matches[0] if author and len(matches) == 1 else None


class Relay:
    """Sends chat messages into the LMS with the person's own token."""

    def __init__(
        self,
        store: Store,
        api: LmsApi,
        after_send: Callable[[int], None] = lambda uid: None,
        profiles: Profiles | None = None,
    ) -> None:
        self.store = store
        self.profiles = profiles or Profiles()
        self.api = api
        self.after_send = after_send

    async def _target(self, link: Link, event: MessageEvent) -> Target | None:
        """Where this message should go; None when it replies to a message the bridge
        cannot place (the person must be asked)."""
        for remote in (event.reply_to, event.thread):
            if remote:
                entry = await self.store.find_remote(link.identity, event.room, remote)
                if entry is not None and entry.conversation_id is not None:
                    info = await self._info(link, entry.conversation_id)
                    return Target(entry.conversation_id, info.peer_id if info else None, info)
        if event.reply_to or event.thread:
            named = by_header(await self.store.conversations_of(link.lms_user_id), event.reply_text)
            return Target(named.conversation_id, named.peer_id, named) if named is not None else None
        return Target(link.current_conversation_id, link.current_peer_id)

    async def _info(self, link: Link, conversation_id: int) -> ConversationInfo | None:
        for info in await self.store.conversations_of(link.lms_user_id):
            if info.conversation_id == conversation_id:
                return info
        return None

    async def _ask(self, link: Link, event: MessageEvent) -> Answer:
        """Which conversation? A button for each recent one; the text waits for the press."""
        infos = (await self.store.conversations_of(link.lms_user_id))[:PICK_CHOICES]
        actions = tuple(
            Action(pick_id(i.conversation_id, event.event_id), i.name or f"Conversation {i.conversation_id}")
            for i in infos
            if len(pick_id(i.conversation_id, event.event_id).encode()) <= MAX_ACTION_ID
        )
        html = (
            "<p>Not sent yet: I have no record of the message you replied to, so I do not know which "
            "Pluto conversation this is for.</p>"
        )
        if actions:
            return Answer(html + "<p>Pick the conversation to send it to:</p>", actions, keep_event=True)
        return Answer(
            html + "<p>Reply to a message from Pluto, or pick a person with <code>to NAME</code>, "
            "and send it again.</p>"
        )

    async def relay(self, link: Link, event: MessageEvent) -> Answer | None:
        """Send; returns what to show the person when it was not sent as is, else None."""
        if not chat_text_to_lms(event.text).strip():
            return None
        target = await self._target(link, event)
        if target is None:
            return await self._ask(link, event)
        return await self.send(link, event, target.conversation_id, target.peer_id, info=target.info)

    async def pick(self, link: Link, action_id: str) -> Answer:
        """The person picked a conversation for a message held by ``_ask``: send it there."""
        parsed = parse_pick(action_id)
        assert parsed is not None
        conversation_id, event_id = parsed
        info = await self._info(link, conversation_id)
        taken = await self.store.take_event(link.identity.platform, event_id, link.identity)
        event = event_from_json(taken[0]) if taken is not None else None
        if info is None or not isinstance(event, MessageEvent) or event.identity != link.identity:
            return Answer("<p>That message was sent already, or it is too old to send from here.</p>")
        problem = await self.send(link, event, conversation_id, info.peer_id, info=info)
        return problem or Answer(f"<p>Sent to <b>{escape(info.name)}</b>.</p>")

    async def arrived(self, link: Link, event: MessageEvent, since: float) -> bool:
        """Whether the LMS already has this message from this person since ``since`` (a send
        interrupted by a crash may have gone through: Moodle does not de-duplicate sends)."""
        target = await self._target(link, event)
        if target is None:
            return False
        conversation_id, peer_id, _ = target
        if conversation_id is None:
            found = [
                i.conversation_id
                for i in await self.store.conversations_of(link.lms_user_id)
                if i.peer_id == peer_id and i.type == ConversationType.INDIVIDUAL
            ]
            if not found:
                return False
            conversation_id = found[0]
        return await find_sent(self.api, link.token, link.lms_user_id, conversation_id, event.text, since) is not None

    async def send(
        self,
        link: Link,
        event: MessageEvent,
        conversation_id: int | None,
        peer_id: int | None,
        name: str | None = None,
        info: ConversationInfo | None = None,
    ) -> Answer | None:
        """Send ``event``'s text to the conversation (or to ``peer_id``, whose private
        conversation the first send creates) and make it current; what to show the person
        when it was not sent, else None. ``name`` names the recipient in a refusal where the
        bridge has no record of the conversation yet; ``info`` is that record when the
        caller has read it already (it is not read again)."""
        text = chat_text_to_lms(event.text)
        if conversation_id is None and peer_id is None:
            return Answer(
                "<p>Not sent: there is no Pluto conversation to send this to yet. Reply to a message "
                "from Pluto, or pick a person with <code>to NAME</code>.</p>"
            )
        size = utf8_len(text)
        if size > MAX_LMS_BYTES:
            return Answer(
                f"<p>Not sent: Pluto accepts at most {MAX_LMS_BYTES} bytes in one message and this one has "
                f"{size}. Please split it.</p>"
            )
        try:
            if info is None and conversation_id is not None:
                info = await self._info(link, conversation_id)
            if peer_id is not None and (info is None or info.type == ConversationType.INDIVIDUAL):
                # Private messages go through send_instant_messages: its refusals carry the
                # LMS's readable reason ("... can't be messaged").
                result = await self.api.send_instant_message(
                    link.token,
                    peer_id,
                    text,
                    clientmsgid=f"pb-{event.identity.platform.value}-{event.event_id}",
                )
                conversation_id = int(result.get("conversationid") or conversation_id or 0) or None
            else:
                assert conversation_id is not None
                await self.api.send_to_conversation(link.token, conversation_id, text)
        except TokenRejected:
            await self.store.set_link_status(link.id, LinkStatus.NEEDS_SIGNIN, "the LMS rejected the token")
            return Answer(notices.signin_lost(self.profiles[event.identity.platform], "Not sent"))
        except MessageTooLong as exc:
            return Answer(f"<p>Not sent: {escape(exc.message)}</p>")
        except SendRefused as exc:
            # The LMS names nobody (observed 25): say whom it concerns.
            refusal = explain_refusal(exc.message, info.name if info else name)
            return Answer(f"<p>Not delivered to Pluto: {escape(refusal)}</p>")
        except LmsError as exc:
            return Answer(f"<p>Not delivered to Pluto: {escape(exc.message)}</p>")
        except LmsUnavailable as exc:
            log.warning("LMS unavailable while relaying for link %s: %s", link.id, exc)
            if exc.reached:  # not resent: a second try could post it twice
                return Answer(
                    "<p>Pluto did not answer in time, so this may or may not have arrived. Please check the "
                    "conversation in Pluto before sending it again.</p>"
                )
            return Answer("<p>Not sent: Pluto cannot be reached right now. Please send it again in a moment.</p>")
        if conversation_id is not None:
            await self.store.set_current(link.id, conversation_id, peer_id)
            try:
                # They answered, so they have read it: keep the LMS's unread state true.
                await self.api.mark_conversation_read(link.token, link.lms_user_id, conversation_id)
            except (LmsError, LmsUnavailable) as exc:
                log.info("could not mark conversation %s read: %s", conversation_id, exc)
        # Marking read also hides, from the unread-count gate, a message that arrived in the
        # meantime: intake must read this person's conversations regardless for a while.
        self.after_send(link.lms_user_id)
        return None
