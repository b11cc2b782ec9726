"""Room to LMS: what a linked Pluto member writes in a linked room goes into the group
conversation as them, with their own token (Pluto's rules apply).

Nothing here answers in the room. A room member without a link, or one Pluto refuses
(not a member of the group, messaging off), is told privately, at most once a day, why
and how to fix it; an edit or deletion is not carried, and its author is told so once.
A reply to a relayed message keeps its context as a quote line. What the bridge posted
is remembered per room (``room_echoes``), so the hub never sends it back into that room.
"""

from __future__ import annotations

import contextlib
import logging
import time

from bridge.lms.api import LmsApi
from bridge.lms.errors import LmsError, LmsUnavailable, SendRefused, TokenRejected
from bridge.lms.refusals import explain_refusal
from bridge.lms.sent import find_sent
from bridge.model import MessageEvent, RoomChange, RoomEvent
from bridge.profile import Profiles
from bridge.render import chat_text_to_lms, escape, to_plain, utf8_len
from bridge.rooms.lifecycle import Lifecycle
from bridge.rooms.tell import FOREVER, Teller
from bridge.store.records import Link, LinkStatus, RoomLink, RoomStatus, room_target
from bridge.store.store import Store

log = logging.getLogger(__name__)

MAX_LMS_BYTES = 4096
QUOTE_CHARS = 80  # of the replied-to message, in the quote line


class RoomInbound:
    """Handles what happens in linked rooms."""

    def __init__(self, store: Store, api: LmsApi, teller: Teller, lifecycle: Lifecycle, profiles: Profiles) -> None:
        self.store = store
        self.api = api
        self.teller = teller
        self.lifecycle = lifecycle
        self.profiles = profiles

    async def linked(self, event: MessageEvent | RoomEvent) -> RoomLink | None:
        """The room's link, if the room is linked (or paused)."""
        if event.shared is None:
            return None
        rl = await self.store.room_link(event.shared)
        return rl if rl is not None and rl.status in (RoomStatus.ACTIVE, RoomStatus.PAUSED) else None

    async def message(self, event: MessageEvent) -> None:
        """A person wrote in a room: into the group as them, or told privately why not."""
        rl = await self.linked(event)
        if rl is None or rl.conversation_id is None:
            return  # a room nobody linked: the bot only listens there for commands
        room = event.shared
        assert room is not None
        await self.store.set_room_member(rl.id, event.identity.user_id, True, event.display_name)
        if rl.status is RoomStatus.PAUSED:
            await self.lifecycle.resume(rl)  # the bot reads the room again: it is back
        where = escape(rl.conversation_name)
        link = await self.store.link_for(event.identity)
        profile = self.profiles[event.identity.platform]
        if link is None or link.status == LinkStatus.INACTIVE:
            await self.teller.tell_once(
                event.identity,
                f"room-unlinked:{rl.id}",
                f"<p>Your message in this room was not sent to <b>{where}</b> in Pluto: only people with a "
                f"linked Pluto account are relayed. Send {escape(profile.command('link'))} to me in a private "
                "chat to link yours.</p>",
                room,
            )
            return
        if link.status == LinkStatus.NEEDS_SIGNIN:
            await self.teller.tell_once(
                event.identity,
                f"room-signin:{rl.id}",
                f"<p>Your message was not sent to <b>{where}</b>: Pluto needs you to sign in again. Send "
                f"{escape(profile.command('link'))} to me in a private chat.</p>",
                room,
            )
            return
        text = chat_text_to_lms(event.text)
        if not text.strip():
            return
        text = await self._quoted(rl, event) + text
        if utf8_len(text) > MAX_LMS_BYTES:
            await self.teller.tell(
                event.identity,
                f"<p>Not sent to <b>{where}</b>: Pluto accepts at most {MAX_LMS_BYTES} bytes in one message. "
                "Please split it.</p>",
                room,
            )
            return
        try:
            sent = await self.api.send_to_conversation(link.token, rl.conversation_id, text)
        except TokenRejected:
            await self.store.set_link_status(link.id, LinkStatus.NEEDS_SIGNIN, "the LMS rejected the token")
            await self.teller.tell(
                event.identity, f"<p>Not sent to <b>{where}</b>: sign in to Pluto again (send link).</p>", room
            )
        except LmsError as exc:
            reason = explain_refusal(exc.message, rl.conversation_name) if isinstance(exc, SendRefused) else exc.message
            await self.teller.tell_once(
                event.identity,
                f"room-refused:{rl.id}",
                f"<p>Your messages in this room are not delivered to <b>{where}</b> in Pluto: {escape(reason)}</p>",
                room,
            )
        except LmsUnavailable as exc:
            log.warning("LMS unavailable while relaying room message of %s: %s", event.identity, exc)
            # The answer never came but Pluto may have stored it: looked for once.
            with contextlib.suppress(LmsError, LmsUnavailable):
                if exc.reached and await self._found(rl, link, event, time.time()):
                    return  # it arrived: nothing to tell, and it is not posted back into the room
            maybe = (
                "may or may not have arrived; check Pluto before sending it again" if exc.reached else "was not sent"
            )
            await self.teller.tell(
                event.identity, f"<p>Pluto could not be reached: your message {escape(maybe)}.</p>", room
            )
        else:
            await self.store.record_echo(rl.id, sent.id)

    async def arrived(self, event: MessageEvent, since: float) -> bool:
        """Whether a room message whose handling a crash interrupted already reached the
        group in Pluto (received at ``since``); if so, it is recorded as this room's echo."""
        rl = await self.linked(event)
        link = await self.store.link_for(event.identity)
        if rl is None or link is None or not link.active:
            return False
        return await self._found(rl, link, event, since)

    async def _found(self, rl: RoomLink, link: Link, event: MessageEvent, since: float) -> bool:
        """Whether ``link``'s person's message is in ``rl``'s group since ``since``; if so it
        is recorded as the room's echo (while the event's journal entry is still unfinished,
        the intake holds it back as a send in progress)."""
        if rl.conversation_id is None:
            return False
        found = await find_sent(self.api, link.token, link.lms_user_id, rl.conversation_id, event.text, since)
        if found is None:
            return False
        await self.store.record_echo(rl.id, found.id)
        return True

    async def _quoted(self, rl: RoomLink, event: MessageEvent) -> str:
        """``> Author: start of the message`` for a reply to a message in the room."""
        replied = event.reply_to or event.thread
        author, text = "", event.reply_text
        if replied and event.shared is not None:
            entry = await self.store.find_remote(event.identity, event.shared.room_id, replied)
            if entry is not None and entry.link_id == room_target(rl.id):
                delivery = await self.store.delivery_of(entry.item_key, entry.link_id)
                if delivery is not None:
                    author = str(delivery.payload.get("author") or "")
                    text = to_plain(str(delivery.payload.get("html") or ""))
        text = " ".join(text.split())
        if not text:
            return ""
        if len(text) > QUOTE_CHARS:
            text = text[: QUOTE_CHARS - 1] + "\u2026"
        return f"> {author}: {text}\n" if author else f"> {text}\n"

    async def changed(self, event: RoomEvent) -> None:
        """Something happened to a room: pause, resume, move, members, edits."""
        change = event.change
        if change in (RoomChange.MEMBER_JOINED, RoomChange.MEMBER_LEFT) and event.shared is not None:
            known = await self.store.room_link(event.shared)  # also while it is being linked
            if known is not None:
                joined = change is RoomChange.MEMBER_JOINED
                await self.store.set_room_member(known.id, event.identity.user_id, joined, event.display_name)
            return
        rl = await self.linked(event)
        if rl is None:
            return
        if change in (RoomChange.BOT_REMOVED, RoomChange.ARCHIVED):
            why = "the bot was removed from the room" if change is RoomChange.BOT_REMOVED else "the room was archived"
            await self.lifecycle.pause(rl, why)
        elif change in (RoomChange.BOT_ADDED, RoomChange.UNARCHIVED):
            await self.lifecycle.resume(rl)
        elif change is RoomChange.MOVED and event.moved_to is not None:
            await self.store.move_room(rl.id, event.moved_to)
        elif change in (RoomChange.EDITED, RoomChange.DELETED):
            await self.teller.tell_once(
                event.identity,
                "room-edits",
                "<p>Edits and deletions in a linked room are not carried to Pluto: what you first wrote stays "
                "there. To correct it, write again.</p>",
                event.shared,
                every=FOREVER,
            )
