"""Inbound Telegram: the update queue that waits for the journal, the handlers that turn
updates into ``Interaction`` values for the core's runner, reason prompts and the answers
shown in the person's chat."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import html
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

import nh3
from telegram import CallbackQuery, ForceReply, MaybeInaccessibleMessage, Message, ReplyParameters, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import CallbackContext, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from adapters.telegram.errors import _map_error
from adapters.telegram.outbound import ASKS_REASON_PREFIX, TelegramOutbound
from bridge.inbound.interaction import Interaction
from bridge.inbound.runner import Runner
from bridge.model import (
    Action,
    ActionEvent,
    ChatEvent,
    ChatIdentity,
    CommandEvent,
    ContactEvent,
    Destination,
    MessageEvent,
    Platform,
    Post,
    Reply,
    SentRef,
)

log = logging.getLogger(__name__)
_T = TypeVar("_T")

Context = CallbackContext[Any, Any, Any, Any]
_Handler = Callable[[Update, Context], Coroutine[Any, Any, None]]

TOAST_LIMIT = 200  # answerCallbackQuery text limit
# A press is answered with the core's toast when it comes within this many seconds; else
# the spinner is stopped here and the outcome follows as a message (a slow LMS, or the
# person's earlier events still ahead of it, must not leave the button spinning).
ANSWER_WITHIN = 4.0
# An update is confirmed to Telegram at the latest this long after it was queued, journalled
# or not: a wedged handler must not stop everybody's updates for good (logged).
RECORD_WAIT = 60.0
PROMPT_TAIL = "Reply to this message; send - for none."
PROMPT_PLACEHOLDER = "Your reason, or - for none"  # ForceReply: 1-64 characters
SUBJECT_MAX = 80  # characters of the item's first line quoted in a prompt


def _plain(rendered: str) -> str:
    """Telegram HTML as plain text (for callback toasts, which take no markup)."""
    return html.unescape(nh3.clean(rendered, tags=set()))


class _AckQueue(asyncio.Queue[object]):
    """The Application's update queue: ``put`` (the Updater's, before it confirms the offset,
    and the webhook route's, before it answers 200) waits until the update is journalled."""

    def __init__(self) -> None:
        super().__init__()
        self.recorded: Callable[[Update], Awaitable[None]] | None = None

    async def put(self, item: object) -> None:
        if not isinstance(item, Update) or self.recorded is None:
            await super().put(item)
            return
        wait = self.recorded(item)  # registers the update before a handler can see it
        await super().put(item)
        await wait


def _pressed_label(message: MaybeInaccessibleMessage, data: str) -> str:
    """The label of the button with ``callback_data == data`` on ``message``."""
    markup = message.reply_markup if isinstance(message, Message) else None
    for row in markup.inline_keyboard if markup is not None else ():
        for button in row:
            if button.callback_data == data:
                return button.text
    return "this decision"


def _subject(message: MaybeInaccessibleMessage) -> str:
    """The item's name as the pressed message shows it: its first line, shortened ("" when
    Telegram no longer shows the bot that message: older than 48 hours)."""
    text = message.text if isinstance(message, Message) else None
    line = next((part.strip() for part in (text or "").splitlines() if part.strip()), "")
    return line if len(line) <= SUBJECT_MAX else line[: SUBJECT_MAX - 1].rstrip() + "\u2026"


class _Older(filters.MessageFilter):
    """Messages sent more than ``seconds`` ago (Telegram's ``date``)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(name=f"older than {seconds:g} s")
        self.seconds = seconds

    def filter(self, message: Message) -> bool:
        age = dt.datetime.now(dt.UTC) - message.date
        return age.total_seconds() > self.seconds


class TelegramInbound(TelegramOutbound):
    """The adapter's receiving half: handlers, the journal wait and the answers."""

    _runner: Runner | None
    _unrecorded: dict[int, asyncio.Event]
    answer_within: float
    max_update_age: float

    def _recorded(self, update: Update) -> Awaitable[None]:
        """What the update queue's ``put`` awaits: the journalling of the update's event, if
        a handler will take it (registered now, before any handler can run)."""
        try:
            taken = any(h.check_update(update) for h in self._app.handlers.get(0, []))
        except Exception:  # a filter failing on odd input: wait for the handler to be safe
            taken = True
        if not taken:
            return asyncio.sleep(0)
        done = self._unrecorded[update.update_id] = asyncio.Event()
        return self._wait_recorded(update.update_id, done)

    async def _wait_recorded(self, update_id: int, done: asyncio.Event) -> None:
        try:
            await asyncio.wait_for(done.wait(), RECORD_WAIT)
        except TimeoutError:
            log.warning("telegram: update %s not journalled within %.0fs; confirmed anyway", update_id, RECORD_WAIT)
        finally:
            self._unrecorded.pop(update_id, None)

    def _settle(self, update_id: int | str) -> None:
        """The update's event is journalled (or it has none): Telegram may have it confirmed."""
        done = self._unrecorded.get(int(update_id))
        if done is not None:
            done.set()

    def _settling(self, callback: _Handler) -> _Handler:
        """``callback`` that settles its update when it ends, whatever it did (a bot's own
        message, a reason prompt: nothing to journal)."""

        @functools.wraps(callback)
        async def run(update: Update, context: Context) -> None:
            try:
                await callback(update, context)
            finally:
                self._settle(update.update_id)

        return run

    def _add_handlers(self) -> None:
        if self._app.handlers:
            return
        only_new = filters.UpdateType.MESSAGE  # edits of old messages are not new input
        self._app.add_handlers(
            [
                # First: a message older than max_update_age (a replay, or sent while the
                # bridge was away for long) is not acted on; its author is told.
                MessageHandler(only_new & _Older(self.max_update_age), self._settling(self._on_stale), block=False),
                CommandHandler("start", self._settling(self._on_start), filters=only_new, block=False),
                # Every other command, known or not: the core parses it and answers an
                # unknown one with help (never relayed to Pluto as a message).
                MessageHandler(only_new & filters.COMMAND, self._settling(self._on_command), block=False),
                MessageHandler(only_new & filters.TEXT, self._settling(self._on_text), block=False),
                CallbackQueryHandler(self._settling(self._on_callback), block=False),
            ]
        )
        self._app.add_error_handler(self._on_error)

    async def _on_stale(self, update: Update, context: Context) -> None:
        message = update.effective_message
        if message is None or (common := self._common(update, message)) is None:
            return
        log.info("telegram: update %s from %s is too old; dropped", update.update_id, message.date.isoformat())
        if common["is_private"]:
            sent = message.date.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
            note = f"Your message of {sent} arrived too late and was not passed on. Please send it again."
            await self._show(message.chat.id, (html.escape(note, quote=False),), ())

    async def _on_error(self, update: object, context: Context) -> None:
        log.error(
            "telegram handler failed for update %s", getattr(update, "update_id", "?"), exc_info=context.error
        )

    @staticmethod
    def _common(update: Update, message: Message) -> dict[str, Any] | None:
        """Fields every event shares, or None for anything a bot sent (no relay loops)."""
        user = update.effective_user
        if user is None or user.is_bot:
            return None
        return {
            "identity": ChatIdentity(Platform.TELEGRAM, "", str(user.id)),
            "event_id": str(update.update_id),
            "room": str(message.chat.id),
            "display_name": user.full_name,
            "is_private": message.chat.type == ChatType.PRIVATE,
            "handle": user.username or "",
        }

    @staticmethod
    def _command_args(message: Message) -> str:
        """The rest of the line after ``/cmd[@bot]``, unparsed."""
        text = message.text or ""
        entity = message.entities[0] if message.entities else None
        length = (
            entity.length if entity is not None and entity.offset == 0 else len(text.split(maxsplit=1)[0])
        )
        # entity lengths are UTF-16 units; a command is ASCII, so units == characters here.
        return text[length:].strip()

    async def _on_start(self, update: Update, context: Context) -> None:
        message = update.effective_message
        if message is None or (common := self._common(update, message)) is None:
            return
        payload = self._command_args(message)
        event: ChatEvent
        if payload:
            event = CommandEvent(**common, name="link", args=payload)
        else:
            event = ContactEvent(**common)
        await self._deliver(event, message.chat.id)

    async def _on_command(self, update: Update, context: Context) -> None:
        message = update.effective_message
        if message is None or (common := self._common(update, message)) is None:
            return
        text = message.text or ""
        _, at, bot = text.split(maxsplit=1)[0].partition("@")
        if at and bot.lower() != (self._app.bot.username or "").lower():
            return  # a command for another bot in the group
        await self._deliver(CommandEvent(**common, text=text), message.chat.id)

    async def _on_text(self, update: Update, context: Context) -> None:
        message = update.effective_message
        if message is None or (common := self._common(update, message)) is None:
            return
        replied = message.reply_to_message  # a reply to a reason prompt too: the core decides
        event = MessageEvent(
            **common,
            # Telegram delivers text without markup; mentions are already the names shown.
            text=message.text or "",
            reply_to=str(replied.message_id) if replied is not None else None,
            thread=str(message.message_thread_id) if message.is_topic_message else None,
            reply_text=(replied.text or "") if replied is not None else "",
        )
        await self._deliver(event, message.chat.id)

    async def _on_callback(self, update: Update, context: Context) -> None:
        query = update.callback_query
        if query is None:
            return
        pressed = query.message
        user = query.from_user
        if pressed is None or user.is_bot:
            await self._answer(query, None)
            return
        ref = SentRef(room=str(pressed.chat.id), message_id=str(pressed.message_id))
        data = query.data or ""
        event = ActionEvent(
            identity=ChatIdentity(Platform.TELEGRAM, "", str(user.id)),
            event_id=str(update.update_id),
            room=ref.room,
            display_name=user.full_name,
            is_private=pressed.chat.type == ChatType.PRIVATE,
            action_id=data,
            message=ref,
        )
        if data.startswith(ASKS_REASON_PREFIX):
            await self._answer(query, None)  # nothing decided yet; the spinner stops
            await self._ask_reason(pressed, event)
            return
        late = False

        async def stop_spinner() -> None:
            nonlocal late
            late = True
            await self._answer(query, None)

        async def answer(reply: Reply | None) -> None:
            if not late:  # always answer, or the person's button keeps spinning
                await self._answer(query, reply.texts[0] if reply and reply.texts else None)
            if reply is not None:
                await self._after_action(event, pressed.chat.id, reply, toasted=not late and bool(reply.texts))

        await self._submit(event, answer, answer_within=self.answer_within, late=stop_spinner)

    async def _ask_reason(self, pressed: MaybeInaccessibleMessage, press: ActionEvent) -> None:
        """Send the ForceReply prompt for a decision that asks a reason, then tell the core
        (it keeps the decision waiting for the person's reply to the prompt)."""
        decision, subject = _pressed_label(pressed, press.action_id), _subject(pressed)
        on = f" on \u201c{html.escape(subject, quote=False)}\u201d" if subject else ""
        text = f"Reason for <b>{html.escape(decision, quote=False)}</b>{on}? {PROMPT_TAIL}"
        chat_id = pressed.chat.id

        async def send() -> Message:
            try:
                return await self._app.bot.send_message(
                    chat_id=chat_id,
                    text=text,
                    parse_mode=ParseMode.HTML,
                    reply_parameters=ReplyParameters(message_id=pressed.message_id, allow_sending_without_reply=True),
                    reply_markup=ForceReply(input_field_placeholder=PROMPT_PLACEHOLDER),
                )
            except TelegramError as exc:
                raise _map_error(exc) from exc

        sent = await self._show_one(press.identity, send)
        if sent is None:
            self._settle(press.event_id)  # no prompt shown: nothing waits
            return
        asked = dataclasses.replace(press, message=SentRef(room=str(chat_id), message_id=str(sent.message_id)))
        await self._deliver(asked, chat_id)

    async def _after_action(self, event: ActionEvent, chat_id: int, reply: Reply, *, toasted: bool) -> None:
        """Update the pressed message as the core says, then show the rest of its answer
        (the first text went into the callback toast when ``toasted``)."""
        ref = event.message
        if reply.replace is not None and ref is not None:
            dest = Destination(identity=event.identity, room=ref.room)
            await self._show_one(event.identity, functools.partial(self.edit, dest, ref, reply.replace))
        rest = reply.texts[1:] if toasted else reply.texts
        if reply.actions and not rest and reply.texts:
            rest = reply.texts[:1]  # buttons need a message to sit on
        await self._show(chat_id, rest, reply.actions)

    async def _answer(self, query: CallbackQuery, text: str | None) -> None:
        toast = _plain(text)[:TOAST_LIMIT] if text else None
        try:
            await query.answer(text=toast)
        except TelegramError as exc:
            log.warning("telegram: answerCallbackQuery failed: %s", exc)

    async def _submit(
        self,
        event: ChatEvent,
        answer: Callable[[Reply | None], Awaitable[None]],
        *,
        answer_within: float | None = None,
        late: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Hand ``event`` to the core's runner: Telegram has its update confirmed once the
        event is journalled (``ack``); the runner answers in the person's turn."""
        assert self._runner is not None
        update_id = event.event_id

        async def ack() -> None:
            self._settle(update_id)

        try:
            await self._runner.submit(Interaction(event, ack, answer, answer_within=answer_within, late=late))
        finally:
            self._settle(update_id)  # whatever happened, Telegram is not kept waiting

    async def _deliver(self, event: ChatEvent, chat_id: int) -> None:
        async def answer(reply: Reply | None) -> None:
            if reply is not None:
                await self._show(chat_id, reply.texts, reply.actions)

        await self._submit(event, answer)

    async def _show(self, chat_id: int, texts: Sequence[str], actions: Sequence[Action]) -> None:
        """Send reply texts as messages in the person's chat; buttons go on the last one."""
        identity = ChatIdentity(Platform.TELEGRAM, "", str(chat_id))
        dest = Destination(identity=identity, room=str(chat_id))
        for i, text in enumerate(texts):
            post = Post(text=text, actions=tuple(actions) if i == len(texts) - 1 else ())
            if await self._show_one(identity, functools.partial(self.send, dest, post)) is None:
                return

    async def _show_one(self, identity: ChatIdentity, send: Callable[[], Awaitable[_T]]) -> _T | None:
        """One post of an answer in the person's chat, as the runner's front-of-lane delivery
        (paced with the chat's deliveries, flood waits retried with the outbox's policy);
        None when it was given up (logged). The callback toast (``_answer``) is the one
        immediate answer: Telegram takes it only for a short while after the press."""
        assert self._runner is not None
        return await self._runner.deliver(identity, send)
