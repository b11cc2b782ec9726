"""Outbound Telegram: sendMessage, editMessageText and deleteMessage in HTML, with inline
keyboards whose callback buttons carry the action id (marked when the decision asks a reason)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application
from telegram.helpers import create_deep_linked_url

from adapters.telegram.errors import _map_error
from bridge.inbound.interaction import ASKS_REASON
from bridge.model import Action, Destination, Post, SentRef
from bridge.ports import Adapter, PermanentError, TransientError

log = logging.getLogger(__name__)

TelegramApp = Application[Any, Any, Any, Any, Any, Any]

BUTTONS_PER_ROW = 3
_STYLES = {"primary": "primary", "danger": "danger"}  # Bot API 9.4+ button styles
# A button whose decision asks for a reason carries this before its action id, so the press
# asks instead of deciding, even after a restart (the button itself says so).
ASKS_REASON_PREFIX = ASKS_REASON
CALLBACK_DATA_MAX = 64  # bytes


def _callback_data(action: Action) -> str:
    """The button's ``callback_data``: the action id, marked when the decision asks a reason.

    The reason is optional, so an id too long to carry the mark stays a one-press decision.
    """
    if not action.needs_reason:
        return action.id
    marked = ASKS_REASON_PREFIX + action.id
    if len(marked.encode("utf-8")) > CALLBACK_DATA_MAX:
        log.debug("telegram: action id %r too long to ask for a reason; it decides at once", action.id)
        return action.id
    return marked


def _keyboard(actions: Sequence[Action]) -> InlineKeyboardMarkup | None:
    """Actions as an inline keyboard: callback buttons carry ``Action.id`` (marked when the
    decision asks a reason); url actions link."""
    if not actions:
        return None
    buttons = []
    for action in actions:
        style = _STYLES.get(action.style)
        if action.url:
            buttons.append(InlineKeyboardButton(action.label, url=action.url, style=style))
        else:
            if len(action.id.encode("utf-8")) > CALLBACK_DATA_MAX:
                raise PermanentError(f"action id longer than Telegram's 64-byte callback_data: {action.id!r}")
            buttons.append(InlineKeyboardButton(action.label, callback_data=_callback_data(action), style=style))
    rows = [buttons[i : i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW)]
    return InlineKeyboardMarkup(rows)


def _int_id(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise PermanentError(f"Telegram {what} must be numeric, got {value!r}") from None


class TelegramOutbound(Adapter):
    """The adapter's sending half (``TelegramAdapter`` builds the Application)."""

    _app: TelegramApp
    _running: bool

    def _require_connected(self) -> None:
        if not self._running:
            # Not started, still connecting in the background, or gave up (see the log).
            raise TransientError("not connected to Telegram")

    async def send(self, dest: Destination, post: Post) -> SentRef:
        """sendMessage in HTML with link previews off, replying to ``post.reply_to``."""
        self._require_connected()
        chat_id = _int_id(dest.room or dest.identity.user_id, "chat id")
        reply = (
            ReplyParameters(message_id=_int_id(post.reply_to, "message id"), allow_sending_without_reply=True)
            if post.reply_to
            else None
        )
        try:
            message = await self._app.bot.send_message(
                chat_id=chat_id,
                text=post.text,
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                reply_parameters=reply,
                reply_markup=_keyboard(post.actions),
                message_thread_id=_int_id(post.thread, "thread id") if post.thread else None,
            )
        except TelegramError as exc:
            raise _map_error(exc) from exc
        thread = message.message_thread_id
        return SentRef(
            room=str(message.chat.id),
            message_id=str(message.message_id),
            thread=str(thread) if thread is not None else None,
        )

    async def edit(self, dest: Destination, ref: SentRef, post: Post) -> None:
        """editMessageText with the new text and keyboard (none when ``post.actions`` is empty).

        ``ref`` alone locates the message on Telegram; ``dest`` is not needed."""
        self._require_connected()
        try:
            await self._app.bot.edit_message_text(
                chat_id=_int_id(ref.room, "chat id"),
                message_id=_int_id(ref.message_id, "message id"),
                text=post.text,
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                reply_markup=_keyboard(post.actions),
            )
        except BadRequest as exc:
            if "message is not modified" in exc.message.lower():
                return  # already shows exactly this: the edit's goal is met
            raise _map_error(exc) from exc
        except TelegramError as exc:
            raise _map_error(exc) from exc

    async def delete(self, dest: Destination, ref: SentRef) -> None:
        """deleteMessage (``ref`` locates the message; ``dest`` is not needed)."""
        self._require_connected()
        try:
            await self._app.bot.delete_message(
                chat_id=_int_id(ref.room, "chat id"), message_id=_int_id(ref.message_id, "message id")
            )
        except TelegramError as exc:
            raise _map_error(exc) from exc

    def bot_link(self, code: str) -> str | None:
        """``https://t.me/<bot>?start=<code>``; None before ``start`` (the username comes from
        getMe) or when ``code`` is not a valid deep-link payload (1-64 of ``A-Za-z0-9_-``)."""
        try:
            username = self._app.bot.username
        except RuntimeError:
            return None
        try:
            return create_deep_linked_url(username, code)
        except ValueError:
            return None
