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
import hmac
import json
import logging
import re
from typing import Any, Literal

from aiohttp import web
from telegram import BotCommand, Update
from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import ApplicationBuilder, ExtBot

from adapters.telegram.errors import _map_error
from adapters.telegram.inbound import ANSWER_WITHIN, _AckQueue
from adapters.telegram.outbound import TelegramApp
from adapters.telegram.rooms import TelegramRooms
from bridge.inbound.runner import Runner
from bridge.model import COMMANDS, Capabilities, Markup, Pace, Platform
from bridge.ports import DeliveryError, EventSink, PermanentError, RateLimited
from bridge.profile import Profile
from bridge.render.measure import telegram_length

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
# Group rooms: edits (told they are not carried) and the bot's own membership (removed, added).
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")
START_RETRY_MAX = 60.0  # seconds between start attempts, at most


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


class TelegramAdapter(TelegramRooms):
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
        # ~1 message/s per chat with short bursts (3 in any 3 s: the same long-run rate); a
        # group (a linked room) also at most 20 a minute. Bot-wide 30 in any second, so ten
        # chats' bursts of 3 still go together; a send counts from its answer, so Telegram
        # sees each second's 30 a round trip apart from the next: just under 30/s.
        per_room=(Pace(3, 3),),
        room_pace=(Pace(20, 60), Pace(3, 3)),
        overall=(Pace(30, 1),),
        threads=False,
        edits=True,
        rooms=True,
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

    async def health_problem(self) -> str | None:
        if self._running:
            return None
        return "connecting to Telegram" if self._retrying is not None else "not connected to Telegram"
