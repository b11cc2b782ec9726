"""Telegram adapter on python-telegram-bot 22.8 (``telegram.ext.Application``).

Inbound updates arrive by long polling (PTB's Updater) or through a webhook route served on
the bridge's own aiohttp server; either way they go through the Application's update queue,
whose ``put`` returns only once the core has journalled the update's event (or the update
carries none): the next getUpdates, which confirms the offset, and the webhook's HTTP 200
wait for that, so a crash never loses what Telegram handed over. Handlers hand each event to
the core's runner (``bridge.inbound.runner``) as an ``Interaction``: the runner journals it,
lets the update be confirmed, and hands it to the core in its person's turn, then shows the
answer. Outbound calls map Telegram errors onto the
``bridge.ports`` exceptions; the core paces and splits, so no AIORateLimiter is installed
and a 429 surfaces at once as ``RateLimited``.

A decision that asks for a reason (``Action.needs_reason``) is marked in its button's
``callback_data``; pressing it answers the callback query at once and sends a ForceReply
prompt, then hands the core the press with the prompt as its message: the core keeps the
decision waiting in its store, and the person's reply to the prompt (an ordinary reply, even
after a restart) decides, with the reply as its reason.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import hmac
import html
import json
import logging
import re
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Literal, TypeVar

import nh3
from aiohttp import web
from telegram import (
    BotCommand,
    CallbackQuery,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    MaybeInaccessibleMessage,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    ExtBot,
    MessageHandler,
    filters,
)
from telegram.helpers import create_deep_linked_url
from telegram.warnings import PTBDeprecationWarning

from bridge.inbound.interaction import ASKS_REASON, Interaction
from bridge.inbound.runner import Runner
from bridge.model import (
    COMMANDS,
    Action,
    ActionEvent,
    Capabilities,
    ChatEvent,
    ChatIdentity,
    CommandEvent,
    ContactEvent,
    Destination,
    Markup,
    MessageEvent,
    Pace,
    Platform,
    Post,
    Reply,
    SentRef,
)
from bridge.ports import (
    Adapter,
    DeliveryError,
    EventSink,
    PermanentError,
    RateLimited,
    RecipientUnreachable,
    TransientError,
)
from bridge.profile import Profile
from bridge.render.measure import telegram_length

log = logging.getLogger(__name__)
_T = TypeVar("_T")

TelegramApp = Application[Any, Any, Any, Any, Any, Any]
Context = CallbackContext[Any, Any, Any, Any]
_Handler = Callable[[Update, Context], Coroutine[Any, Any, None]]

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
ALLOWED_UPDATES = ("message", "callback_query")
START_RETRY_MAX = 60.0  # seconds between start attempts, at most
REPLY_ATTEMPTS = 3  # sends of one reply text under flood control
REPLY_WAIT_MAX = 30.0  # seconds; a longer flood wait drops the reply (logged)
TOAST_LIMIT = 200  # answerCallbackQuery text limit
# A press is answered with the core's toast when it comes within this many seconds; else
# the spinner is stopped here and the outcome follows as a message (a slow LMS, or the
# person's earlier events still ahead of it, must not leave the button spinning).
ANSWER_WITHIN = 4.0
# An update is confirmed to Telegram at the latest this long after it was queued, journalled
# or not: a wedged handler must not stop everybody's updates for good (logged).
RECORD_WAIT = 60.0
BUTTONS_PER_ROW = 3
_STYLES = {"primary": "primary", "danger": "danger"}  # Bot API 9.4+ button styles
# A button whose decision asks for a reason carries this before its action id, so the press
# asks instead of deciding, even after a restart (the button itself says so).
ASKS_REASON_PREFIX = ASKS_REASON
CALLBACK_DATA_MAX = 64  # bytes
PROMPT_TAIL = "Reply to this message; send - for none."
PROMPT_PLACEHOLDER = "Your reason, or - for none"  # ForceReply: 1-64 characters
SUBJECT_MAX = 80  # characters of the item's first line quoted in a prompt
# Telegram's wording for people the bot can no longer reach (all arrive as 403 Forbidden,
# except a deactivated user, which some servers report as 400).
_UNREACHABLE = ("blocked by the user", "initiate conversation", "user is deactivated", "kicked")


def _map_error(exc: TelegramError) -> DeliveryError:
    """Translate a PTB exception into the contract's failure types."""
    if isinstance(exc, RetryAfter):
        with warnings.catch_warnings():
            # PTB 22 warns that the int form will become a timedelta; both are handled here.
            warnings.simplefilter("ignore", PTBDeprecationWarning)
            value = exc.retry_after
        seconds = value if isinstance(value, int | float) else value.total_seconds()
        return RateLimited(float(seconds), str(exc))
    if isinstance(exc, Forbidden):
        return RecipientUnreachable(exc.message)
    if isinstance(exc, BadRequest) and any(s in exc.message.lower() for s in _UNREACHABLE):
        return RecipientUnreachable(exc.message)
    if isinstance(exc, BadRequest | InvalidToken | Conflict | ChatMigrated):
        return PermanentError(str(exc))
    if isinstance(exc, NetworkError):  # includes TimedOut and every 5xx
        return TransientError(str(exc))
    return PermanentError(str(exc))


def _plain(rendered: str) -> str:
    """Telegram HTML as plain text (for callback toasts, which take no markup)."""
    return html.unescape(nh3.clean(rendered, tags=set()))


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


class _RedactToken(logging.Filter):
    """Replaces the bot token in log records: httpx logs every request URL at INFO, and Bot
    API URLs contain the token."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def scrub(self, text: str) -> str:
        """``text`` with the token replaced."""
        return text.replace(self._token, "<telegram-token>")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._token in message:
            record.msg, record.args = self.scrub(message), None
        return True


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


def _int_id(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise PermanentError(f"Telegram {what} must be numeric, got {value!r}") from None


class _Older(filters.MessageFilter):
    """Messages sent more than ``seconds`` ago (Telegram's ``date``)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(name=f"older than {seconds:g} s")
        self.seconds = seconds

    def filter(self, message: Message) -> bool:
        age = dt.datetime.now(dt.UTC) - message.date
        return age.total_seconds() > self.seconds


class TelegramAdapter(Adapter):
    """Telegram bot behind the bridge contract.

    Keyword-only arguments:

    - ``token``: the bot token from @BotFather.
    - ``mode``: ``"polling"`` (getUpdates long polling) or ``"webhook"`` (Telegram POSTs to
      ``webhook_url``; the route comes from ``web_routes()`` and is served by the bridge).
    - ``base_url`` / ``base_file_url``: Bot API roots; the token is appended (point them at a
      sandbox in tests).
    - ``webhook_url``: the public HTTPS URL Telegram posts updates to (webhook mode only,
      required there); it should end in ``webhook_path``.
    - ``webhook_path``: the path of the route ``web_routes()`` returns.
    - ``webhook_secret``: the ``secret_token`` given to setWebhook and checked on every POST
      (required in webhook mode; 1-256 characters of ``A-Za-z0-9_-``).
    - ``poll_timeout``: getUpdates long-poll timeout in seconds (polling mode).
    - ``start_retry``: when the Bot API cannot be reached at ``start`` (network down, 5xx,
      flood wait), ``start`` logs one line and returns; the adapter keeps connecting in the
      background, first after this many seconds, then doubling up to ``START_RETRY_MAX``.
      A rejected token still fails ``start`` (retrying cannot fix it).
    """

    platform = Platform.TELEGRAM
    capabilities = Capabilities(
        markup=Markup.TELEGRAM_HTML,
        max_text=4096,  # characters after entity parsing, counted as UTF-16 units for margin
        measure=telegram_length,
        # ~1 message/s per chat with short bursts (3 in any 3 s: the same long-run rate);
        # groups would be Pace(20, 60), but the bridge only uses DMs. Bot-wide just under 30/s:
        # 30 in any 1.05 s, so ten chats' bursts of 3 still go together.
        per_room=(Pace(3, 3),),
        overall=(Pace(30, 1.05),),
        threads=False,
        edits=True,
    )
    profile = Profile(Platform.TELEGRAM, "Telegram", capabilities, "/")

    def __init__(
        self,
        *,
        token: str,
        mode: Literal["polling", "webhook"] = "polling",
        base_url: str = "https://api.telegram.org/bot",
        base_file_url: str = "https://api.telegram.org/file/bot",
        webhook_url: str | None = None,
        webhook_path: str = "/telegram/webhook",
        webhook_secret: str | None = None,
        poll_timeout: int = 10,
        start_retry: float = 2.0,
        max_update_age: float = 600.0,
    ) -> None:
        if mode not in ("polling", "webhook"):
            raise ValueError(f"mode must be 'polling' or 'webhook', not {mode!r}")
        if mode == "webhook" and not (webhook_url and webhook_secret):
            raise ValueError("webhook mode needs webhook_url and webhook_secret")
        if webhook_secret is not None and not _SECRET_RE.fullmatch(webhook_secret):
            raise ValueError("webhook_secret must be 1-256 characters of A-Za-z0-9_- (Telegram's rule)")
        self.mode = mode
        self.webhook_url = webhook_url
        self.webhook_path = webhook_path
        self._secret = webhook_secret.encode() if webhook_secret else b""
        self.poll_timeout = poll_timeout
        self.start_retry = start_retry
        self.max_update_age = max_update_age
        queue = _AckQueue()
        builder = (
            ApplicationBuilder().token(token).base_url(base_url).base_file_url(base_file_url).update_queue(queue)
        )
        if mode == "webhook":
            builder = builder.updater(None)  # updates come through our aiohttp route
        self._app: TelegramApp = builder.build()
        self._runner: Runner | None = None
        self._running = False
        self._retrying: asyncio.Task[None] | None = None
        self.answer_within = ANSWER_WITHIN
        self._conflict_reported = False
        self._redact = _RedactToken(token)
        self._unrecorded: dict[int, asyncio.Event] = {}
        queue.recorded = self._recorded

    @property
    def bot(self) -> ExtBot[Any]:
        """The PTB bot (for tests and diagnostics)."""
        return self._app.bot

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self, sink: EventSink) -> None:
        """Identify the bot (getMe), publish the command menu, register handlers and begin
        receiving updates (polling, or setWebhook in webhook mode).

        A rejected token raises ``PermanentError``. When the Bot API cannot be reached
        (network down, 5xx, flood wait), this logs one line and returns: the adapter keeps
        connecting in the background, and until it is connected sends fail as
        ``TransientError`` and webhook POSTs get 503 (Telegram delivers them again later).
        """
        if self._running or self._retrying is not None:
            return
        self._runner = Runner.of(sink)
        self._conflict_reported = False
        logging.getLogger("httpx").addFilter(self._redact)
        self._add_handlers()
        try:
            await self._connect()
        except (NetworkError, RetryAfter) as exc:
            log.error(
                "telegram: the Bot API cannot be reached at start (%s); the bridge keeps running and "
                "connects to Telegram as soon as it can (retrying in the background)",
                self._redact.scrub(str(exc)),
            )
            self._retrying = asyncio.create_task(self._keep_connecting(exc), name="telegram-start-retry")
            return
        except BaseException:
            logging.getLogger("httpx").removeFilter(self._redact)
            raise
        self._connected()

    async def _connect(self) -> None:
        """One attempt at what ``start`` does; leaves nothing open when it fails."""
        try:
            try:
                await self._app.initialize()
            except InvalidToken:
                # PTB's message repeats the token; secrets never reach the logs.
                raise PermanentError("Telegram rejected the bot token (getMe: Unauthorized)") from None
            await self._app.bot.set_my_commands([BotCommand(c.name, c.description) for c in COMMANDS])
            await self._app.start()
            if self.mode == "webhook":
                await self._app.bot.set_webhook(
                    url=self.webhook_url or "",
                    secret_token=self._secret.decode(),
                    allowed_updates=list(ALLOWED_UPDATES),
                )
            else:
                assert self._app.updater is not None
                await self._app.updater.start_polling(
                    timeout=self.poll_timeout,
                    allowed_updates=list(ALLOWED_UPDATES),
                    error_callback=self._polling_error,
                )
        except BaseException:
            await self._release()
            raise

    async def _keep_connecting(self, failure: TelegramError) -> None:
        """Retry ``_connect`` with doubling delays (a flood wait's own delay when given)."""
        delay = self.start_retry
        attempts = 1
        while True:
            wait = _map_error(failure)
            await asyncio.sleep(wait.retry_after if isinstance(wait, RateLimited) else delay)
            delay = min(delay * 2, START_RETRY_MAX)
            attempts += 1
            try:
                await self._connect()
            except (NetworkError, RetryAfter) as exc:
                log.debug("telegram: start attempt %d failed: %s", attempts, self._redact.scrub(str(exc)))
                failure = exc
                continue
            except Exception as exc:
                # The Bot API answered but refused (rejected token, bad webhook URL): retrying
                # cannot help, and an operator has to act.
                reason = exc.reason if isinstance(exc, DeliveryError) else self._redact.scrub(str(exc))
                log.error("telegram: giving up connecting: %s", reason)
                self._retrying = None
                return
            self._retrying = None
            self._connected(attempts)
            return

    def _connected(self, attempts: int = 1) -> None:
        self._running = True
        after = f" after {attempts} attempts" if attempts > 1 else ""
        log.info("telegram adapter started as @%s (%s)%s", self._app.bot.username, self.mode, after)

    async def stop(self) -> None:
        """Stop receiving (or connecting), wait for running handlers, close HTTP clients;
        safe twice.

        The webhook stays registered at Telegram so updates queue there until restart.
        """
        retrying, self._retrying = self._retrying, None
        if retrying is not None:
            retrying.cancel()
            await asyncio.gather(retrying, return_exceptions=True)
        if self._running:
            try:
                await self._release()
            finally:
                self._running = False
        if self._runner is not None:
            await self._runner.stop(self.platform)  # unfinished events stay journalled
        logging.getLogger("httpx").removeFilter(self._redact)

    async def _release(self) -> None:
        updater = self._app.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self._app.running:
            await self._app.stop()
        await self._app.shutdown()
        await self._app.bot.shutdown()  # no-op unless initialize failed half-way

    def _polling_error(self, exc: TelegramError) -> None:
        """PTB's polling error callback: PTB keeps retrying with back-off; we log clearly."""
        if isinstance(exc, Conflict):
            if not self._conflict_reported:
                self._conflict_reported = True
                log.error(
                    "Telegram refuses getUpdates (409 Conflict: %s): another process is polling with "
                    "this bot token, or a webhook is set. Stop the other instance, or run every "
                    "replica in webhook mode; polling resumes by itself once the conflict is gone.",
                    exc.message,
                )
            return
        log.warning("Telegram polling failed, retrying: %s", exc)

    # --- webhook -------------------------------------------------------------------------

    def web_routes(self) -> list[web.RouteDef]:
        """In webhook mode, the POST route Telegram delivers updates to; else none."""
        if self.mode != "webhook":
            return []
        return [web.post(self.webhook_path, self._webhook)]

    async def _webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            log.warning("telegram webhook: refused a POST with a missing or wrong secret token")
            return web.Response(status=403)
        if not self._app.running:
            return web.Response(status=503)  # Telegram redelivers later
        try:
            data = await request.json()
            if not isinstance(data, dict):
                raise TypeError("an Update is a JSON object")
            update = Update.de_json(data, self._app.bot)
        except (json.JSONDecodeError, TypeError, KeyError, ValueError, AttributeError):
            log.warning("telegram webhook: body is not an Update")
            return web.Response(status=400)
        # The queue's put returns once the update's event is journalled (_AckQueue): only
        # then does Telegram get its 200; handling goes on as tasks afterwards.
        await self._app.update_queue.put(update)
        return web.Response(status=200)

    # --- inbound -------------------------------------------------------------------------

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
        sent = await self._patiently(
            chat_id,
            lambda: self._app.bot.send_message(
                chat_id=chat_id,
                text=text,
                parse_mode=ParseMode.HTML,
                reply_parameters=ReplyParameters(message_id=pressed.message_id, allow_sending_without_reply=True),
                reply_markup=ForceReply(input_field_placeholder=PROMPT_PLACEHOLDER),
            ),
        )
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
            try:
                await self.edit(Destination(identity=event.identity, room=ref.room), ref, reply.replace)
            except DeliveryError as exc:
                log.warning("telegram: could not update pressed message %s: %s", ref, exc.reason)
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
        dest = Destination(identity=ChatIdentity(Platform.TELEGRAM, "", str(chat_id)), room=str(chat_id))
        for i, text in enumerate(texts):
            post = Post(text=text, actions=tuple(actions) if i == len(texts) - 1 else ())
            if await self._patiently(chat_id, functools.partial(self.send, dest, post)) is None:
                return

    async def _patiently(self, chat_id: int, call: Callable[[], Awaitable[_T]]) -> _T | None:
        """One answer to a person (``call`` sends it); None when it could not be shown (logged).

        The core paces answers with the chat's deliveries, so a flood limit here is rare (a
        limit shared with other bots, say): wait as told (this person's turn is held), a few
        times at most.
        """
        for attempt in range(REPLY_ATTEMPTS):
            try:
                return await call()
            except TelegramError as exc:
                failure: DeliveryError = _map_error(exc)
            except DeliveryError as exc:
                failure = exc
            if not isinstance(failure, RateLimited):
                log.warning("telegram: could not show a reply in chat %s: %s", chat_id, failure.reason)
                return None
            if attempt + 1 == REPLY_ATTEMPTS or failure.retry_after > REPLY_WAIT_MAX:
                log.warning("telegram: gave up showing a reply in chat %s: %s", chat_id, failure.reason)
                return None
            await asyncio.sleep(failure.retry_after)
        return None

    # --- outbound ------------------------------------------------------------------------

    async def health_problem(self) -> str | None:
        if self._running:
            return None
        return "connecting to Telegram" if self._retrying is not None else "not connected to Telegram"

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
