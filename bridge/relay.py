"""Chat to LMS: what a linked person writes goes into the right conversation, as them.

The conversation is the one of the message they replied to (or the thread they wrote
in), else their current one: the one they last received from or picked with ``to``.
Refusals come back with the LMS's own reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bridge.lms.api import LmsApi
from bridge.lms.errors import LmsError, LmsUnavailable, MessageTooLong, SendRefused, TokenRejected
from bridge.lms.refusals import explain_refusal
from bridge.model import ConversationInfo, ConversationType, MessageEvent
from bridge.render import chat_text_to_lms, escape, utf8_len
from bridge.store.records import Link
from bridge.store.store import Store

log = logging.getLogger(__name__)

MAX_LMS_BYTES = 4096


class Relay:
    """Sends chat messages into the LMS with the person's own token."""

    def __init__(self, store: Store, api: LmsApi, after_send: Callable[[int], None] = lambda uid: None) -> None:
        self.store = store
        self.api = api
        self.after_send = after_send

    async def _target(self, link: Link, event: MessageEvent) -> tuple[int | None, int | None]:
        """(conversation id, peer id) this message should go to."""
        for remote in (event.reply_to, event.thread):
            if remote:
                entry = await self.store.find_remote(link.identity, event.room, remote)
                if entry is not None and entry.conversation_id is not None:
                    info = await self._info(link, entry.conversation_id)
                    return entry.conversation_id, info.peer_id if info else None
        return link.current_conversation_id, link.current_peer_id

    async def _info(self, link: Link, conversation_id: int) -> ConversationInfo | None:
        for info in await self.store.conversations_of(link.lms_user_id):
            if info.conversation_id == conversation_id:
                return info
        return None

    async def relay(self, link: Link, event: MessageEvent) -> str | None:
        """Send; returns safe HTML to show the person when something went wrong, else None."""
        text = chat_text_to_lms(event.text)
        if not text.strip():
            return None
        conversation_id, peer_id = await self._target(link, event)
        if conversation_id is None and peer_id is None:
            return (
                "<p>Not sent: there is no Pluto conversation to send this to yet. Reply to a message "
                "from Pluto, or pick a person with <code>to NAME</code>.</p>"
            )
        size = utf8_len(text)
        if size > MAX_LMS_BYTES:
            return (
                f"<p>Not sent: Pluto accepts at most {MAX_LMS_BYTES} bytes in one message and this one has "
                f"{size}. Please split it.</p>"
            )
        try:
            info = await self._info(link, conversation_id) if conversation_id is not None else None
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
            await self.store.set_link_status(link.id, "needs_signin", "the LMS rejected the token")
            return "<p>Not sent: your Pluto sign-in no longer works. Use <code>link</code> to sign in again.</p>"
        except MessageTooLong as exc:
            return f"<p>Not sent: {escape(exc.message)}</p>"
        except SendRefused as exc:
            # The LMS names nobody (observed 25): say whom it concerns.
            return f"<p>Not delivered to Pluto: {escape(explain_refusal(exc.message, info.name if info else None))}</p>"
        except LmsError as exc:
            return f"<p>Not delivered to Pluto: {escape(exc.message)}</p>"
        except LmsUnavailable as exc:
            log.warning("LMS unavailable while relaying for link %s: %s", link.id, exc)
            if exc.reached:  # not resent: a second try could post it twice
                return (
                    "<p>Pluto did not answer in time, so this may or may not have arrived. Please check the "
                    "conversation in Pluto before sending it again.</p>"
                )
            return "<p>Not sent: Pluto cannot be reached right now. Please send it again in a moment.</p>"
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
