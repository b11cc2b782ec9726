"""A stand-in for the Telegram Bot API on 127.0.0.1, for tests and local runs.

It serves ``/bot<token>/<method>`` the way api.telegram.org does (query string, form,
JSON and multipart bodies; ``{ok, result}`` / ``{ok:false, error_code, description,
parameters}`` answers), checks every call against the scraped Bot API spec, enforces the
published flood limits (switchable), and plays the users' side: builders queue updates that
the bot fetches with getUpdates or that are POSTed to its webhook with the secret header.

Run standalone: ``python -m sandbox.telegram --port 8081``. Never imports bridge/ or adapters/.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from sandbox.kit import Changes, FaultPlan, Recorder, SlidingWindow, TokenBucket, listen, run_main, serve_forever
from sandbox.telegram_html import EntityParseError, parse_html
from sandbox.telegram_spec import SpecError, TelegramSpec

log = logging.getLogger(__name__)

MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
MAX_TOAST = 200
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_WEBHOOK_PORTS = {443, 80, 88, 8443}
UPDATE_TYPES = ("message", "edited_message", "callback_query", "my_chat_member")
# Flood limits as Telegram's bot FAQ words them ("My bot is hitting limits"): in any one chat,
# a group's too, about one message per second, short bursts allowed (a bucket of
# ``chat_burst``); no more than 20 messages per minute into one group and about 30 per second
# overall, each counted over any window of that length. A bucket refilled at 20 a minute would
# let 40 into a group's first minute, more than the FAQ allows.
CHAT_RATE = 1.0
GROUP_LIMIT, GROUP_WINDOW = 20, 60.0
OVERALL_LIMIT, OVERALL_WINDOW = 30, 1.0


class ApiError(Exception):
    """An error answer in Telegram's shape; the HTTP status equals ``error_code``."""

    def __init__(self, code: int, description: str, parameters: Mapping[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = dict(parameters) if parameters else None

    def body(self) -> dict[str, Any]:
        """The JSON body Telegram would answer with."""
        out: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            out["parameters"] = self.parameters
        return out


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


@dataclass
class SandboxUser:
    """A Telegram user; their private chat with the bot has ``chat id == user id``."""

    id: int
    first_name: str
    last_name: str = ""
    username: str | None = None
    language_code: str = "en"
    started: bool = False  # pressed Start (or wrote to the bot): the bot may message them
    blocked: bool = False  # blocked the bot

    def as_json(self) -> dict[str, Any]:
        """The ``User`` object as Telegram serialises it."""
        out: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            out["last_name"] = self.last_name
        if self.username:
            out["username"] = self.username
        out["language_code"] = self.language_code
        return out

    def private_chat(self) -> dict[str, Any]:
        """The ``Chat`` object of this user's private chat with the bot."""
        out: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            out["last_name"] = self.last_name
        if self.username:
            out["username"] = self.username
        return out


@dataclass
class SandboxRequest:
    """One HTTP request the sandbox received, with what it answered."""

    http_method: str
    path: str
    api_method: str
    headers: dict[str, str]
    params: dict[str, Any]
    status: int = 0
    response: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)  # when it arrived

    @property
    def ok(self) -> bool:
        """Whether the call succeeded."""
        return bool(self.response.get("ok"))


@dataclass
class WebhookDelivery:
    """One attempt to POST an update to the bot's webhook."""

    update_id: int
    url: str
    status: int | None
    error: str = ""


@dataclass
class _Injection:
    method: str | None
    chat_id: int | None
    count: int
    error: ApiError
    until: float | None = None  # on ``clock``: every matching call fails until then (count unused)


class SandboxTelegram:
    """The fake Bot API server and the users behind it.

    ``token`` is the only token accepted (others get 401). ``enforce_limits`` switches the
    flood limits on: about one message per second per chat (bursts of ``chat_burst``), and
    no more than 20 in any minute into a group and 30 in any second overall.
    ``redelivery_delay`` is how long a failed webhook delivery waits before the next attempt. ``clock`` (seconds,
    monotonic) drives the flood limits; tests pass a frozen one to make them deterministic.
    ``spec_path`` is the scraped Bot API spec (default: ``telegram_bot_api.json`` found by
    ``sandbox.specs``).
    """

    def __init__(
        self,
        token: str = "123456789:SANDBOX-token_for-tests",
        *,
        bot_username: str = "pluto_sandbox_bot",
        bot_name: str = "Pluto Sandbox",
        enforce_limits: bool = True,
        chat_burst: int = 3,
        redelivery_delay: float = 0.2,
        spec_path: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token
        head = token.split(":", 1)[0]
        self.bot_id = int(head) if head.isdigit() else 1
        self.bot_username = bot_username
        self.bot_name = bot_name
        self.enforce_limits = enforce_limits
        self.chat_burst = chat_burst
        self.redelivery_delay = redelivery_delay
        self.clock = clock
        self.spec = TelegramSpec(spec_path)

        self.requests: Recorder[SandboxRequest] = Recorder()
        self.users: dict[int, SandboxUser] = {}
        self.groups: dict[int, dict[str, Any]] = {}
        # Groups as Telegram keeps them: who is in each, who administers it, whether the bot
        # is still in it, and where a group went when it became a supergroup.
        self.group_members: dict[int, set[int]] = {}
        self.group_admins: dict[int, set[int]] = {}
        self.bot_removed: set[int] = set()
        self.migrated: dict[int, int] = {}
        self._group_creator: dict[int, int | None] = {}
        # BotFather's privacy mode (on by default): in groups the bot receives only commands,
        # replies to its own messages and service messages (core.telegram.org/bots/features#privacy-mode).
        self.privacy_mode = True
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.commands: list[dict[str, Any]] = []
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.webhook: dict[str, Any] | None = None

        self._pending: list[dict[str, Any]] = []
        self._update_ids = itertools.count(500_000)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._query_ids = itertools.count(7_000_000_000)
        self._open_queries: dict[str, dict[str, Any]] = {}
        self._allowed_updates: list[str] | None = None
        self._faults: FaultPlan[_Injection] = FaultPlan()
        self.answer_delay: dict[str, float] = {}  # method -> seconds its answer is held back
        self._chat_limits_of: dict[int, tuple[TokenBucket, SlidingWindow | None]] = {}
        self._overall = SlidingWindow(OVERALL_LIMIT, OVERALL_WINDOW)
        self._changes: Changes = self.requests.changes
        self._poll_generation = 0
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self.base_url = ""

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self, port: int = 0) -> str:
        """Serve on 127.0.0.1 (``port`` 0 picks a free one); return the root URL.

        Point PTB at ``api_url`` and ``file_url``.
        """
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner, self.base_url = await listen(app, port)
        self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self.base_url

    @property
    def api_url(self) -> str:
        """The Bot API base PTB wants (``base_url``): the token is appended to it."""
        return f"{self.base_url}/bot"

    @property
    def file_url(self) -> str:
        """The file download base PTB wants (``base_file_url``)."""
        return f"{self.base_url}/file/bot"

    async def stop(self) -> None:
        """Stop serving, end long polls and webhook deliveries; safe twice."""
        self._closing = True
        self._wake()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            await asyncio.gather(self._webhook_task, return_exceptions=True)
            self._webhook_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    # --- the users' side -----------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        first_name: str,
        *,
        last_name: str = "",
        username: str | None = None,
        started: bool = False,
    ) -> SandboxUser:
        """Create a Telegram user (``started``: they already pressed Start)."""
        user = SandboxUser(user_id, first_name, last_name, username, started=started)
        self.users[user_id] = user
        return user

    def add_group(
        self,
        chat_id: int,
        title: str,
        *,
        supergroup: bool = False,
        admins: Sequence[int] = (),
        members: Sequence[int] = (),
    ) -> None:
        """Create a group chat (negative id) the bot is a member of, with its ``admins``
        (the first is the creator) and other ``members`` (user ids)."""
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        self.groups[chat_id] = {"id": chat_id, "type": "supergroup" if supergroup else "group", "title": title}
        self.group_admins[chat_id] = set(admins)
        self.group_members[chat_id] = set(admins) | set(members)
        self._group_creator[chat_id] = admins[0] if admins else None

    def remove_bot_from_group(self, chat_id: int, by: SandboxUser | int) -> int:
        """An administrator removes the bot: a ``my_chat_member`` update (status ``kicked``);
        sends there fail with 403 until it is added again. Returns the update_id."""
        self.bot_removed.add(chat_id)
        return self._bot_member_update(chat_id, by, "member", "kicked")

    def add_bot_to_group(self, chat_id: int, by: SandboxUser | int) -> int:
        """The bot is added (back) to the group: a ``my_chat_member`` update (``member``)."""
        self.bot_removed.discard(chat_id)
        return self._bot_member_update(chat_id, by, "kicked", "member")

    def migrate_to_supergroup(self, chat_id: int, new_id: int) -> int:
        """The group becomes a supergroup with a new id: a service message in the old chat
        carrying ``migrate_to_chat_id``; sends to the old id fail with 400 and the new id.
        Returns the update_id."""
        old = self.groups[chat_id]
        self.groups[new_id] = {**old, "id": new_id, "type": "supergroup"}
        for table in (self.group_members, self.group_admins):
            table[new_id] = set(table.get(chat_id, ()))
        self._group_creator[new_id] = self._group_creator.get(chat_id)
        self.migrated[chat_id] = new_id
        creator = self._group_creator.get(chat_id)
        user = self.users[creator] if creator is not None else next(iter(self.users.values()))
        msg = self._service_message(user, old, migrate_to_chat_id=new_id)
        return self._enqueue({"message": msg})

    def user_joins_group(self, user: SandboxUser | int, chat_id: int) -> int:
        """``user`` joins the group: a service message with ``new_chat_members``."""
        u = self._user(user)
        self.group_members.setdefault(chat_id, set()).add(u.id)
        msg = self._service_message(u, self.groups[chat_id], new_chat_members=[u.as_json()])
        return self._enqueue({"message": msg})

    def user_leaves_group(self, user: SandboxUser | int, chat_id: int) -> int:
        """``user`` leaves the group: a service message with ``left_chat_member``."""
        u = self._user(user)
        self.group_members.setdefault(chat_id, set()).discard(u.id)
        msg = self._service_message(u, self.groups[chat_id], left_chat_member=u.as_json())
        return self._enqueue({"message": msg})

    def user_edits_in_group(self, user: SandboxUser | int, chat_id: int, message_id: int, text: str) -> int | None:
        """``user`` edits their message: an ``edited_message`` update, where the bot received
        the original (privacy mode); returns the update_id, or None when not delivered."""
        original = self.messages[(chat_id, message_id)]
        original["text"] = text
        original["edit_date"] = int(time.time())
        if not original.get("_delivered"):
            return None
        return self._enqueue({"edited_message": self._public(original)})

    def block_bot(self, user_id: int) -> None:
        """The user blocks the bot: sends to them get 403 until they press Start again."""
        self.users[user_id].blocked = True

    def user_sends_text(self, user: SandboxUser | int, text: str, reply_to: int | None = None) -> int:
        """The user writes ``text`` in their private chat with the bot; returns the update_id.

        A leading ``/command`` gets a ``bot_command`` entity, as Telegram clients add it.
        ``reply_to`` is the message id they reply to (it must exist in the chat).
        """
        u = self._user(user)
        u.started = True  # writing to a bot starts it
        msg = self._user_message(u, text)
        if reply_to is not None:
            original = self.messages.get((u.id, reply_to))
            if original is None:
                raise ValueError(f"no message {reply_to} in chat {u.id}")
            msg["reply_to_message"] = {k: v for k, v in original.items() if not k.startswith("_")}
        return self._enqueue({"message": msg})

    def user_sends_in_group(
        self, user: SandboxUser | int, chat_id: int, text: str, reply_to: int | None = None
    ) -> int | None:
        """The user writes ``text`` in group ``chat_id`` (see ``add_group``), where every
        member reads what the bot answers there, optionally replying to message ``reply_to``
        there. Returns the update_id, or None when the bot does not receive it: it is not in
        the group, or privacy mode is on and this is neither a command nor a reply to the
        bot. Writing in a group does not start the bot's private chat."""
        u = self._user(user)
        if chat_id not in self.groups:
            raise ValueError(f"no group {chat_id}")
        self.group_members.setdefault(chat_id, set()).add(u.id)
        msg = self._user_message(u, text, chat=self.groups[chat_id])
        replied: dict[str, Any] | None = None
        if reply_to is not None:
            replied = self.messages.get((chat_id, reply_to))
            if replied is None:
                raise ValueError(f"no message {reply_to} in chat {chat_id}")
            msg["reply_to_message"] = self._public(replied)
        to_bot = replied is not None and replied["from"].get("id") == self.bot_id
        if chat_id in self.bot_removed or (self.privacy_mode and "entities" not in msg and not to_bot):
            return None
        msg["_delivered"] = True
        return self._enqueue({"message": self._public(msg)})

    def user_starts(self, user: SandboxUser | int, payload: str | None = None) -> int:
        """The user presses Start (through a deep link if ``payload``); returns the update_id."""
        u = self._user(user)
        u.started = True
        u.blocked = False
        text = "/start" if payload is None else f"/start {payload}"
        return self._enqueue({"message": self._user_message(u, text)})

    def user_presses(self, user: SandboxUser | int, message_id: int, data: str) -> str:
        """The user presses the inline button with ``callback_data == data`` on a message in
        their private chat; returns the callback query id (see ``callback_answers``)."""
        u = self._user(user)
        msg = self.messages.get((u.id, message_id))
        if msg is None:
            raise ValueError(f"no message {message_id} in chat {u.id}")
        rows = (msg.get("reply_markup") or {}).get("inline_keyboard", [])
        if not any(b.get("callback_data") == data for row in rows for b in row):
            raise ValueError(f"message {message_id} has no button with callback_data {data!r}")
        query_id = str(next(self._query_ids))
        query = {
            "id": query_id,
            "from": u.as_json(),
            "message": {k: v for k, v in msg.items() if not k.startswith("_")},
            "chat_instance": str(-u.id * 7919),
            "data": data,
        }
        self._open_queries[query_id] = query
        self._enqueue({"callback_query": query})
        return query_id

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by getUpdates offset or delivered to the webhook."""
        return list(self._pending)

    # --- failure injection and inspection -------------------------------------------------

    def fail_next(
        self,
        method: str | None = "sendMessage",
        *,
        chat_id: int | None = None,
        status: int = 429,
        count: int = 1,
        retry_after: int = 3,
        description: str | None = None,
        for_seconds: float | None = None,
    ) -> None:
        """Make the next ``count`` calls of ``method`` (any method if None), to ``chat_id``
        if given, fail with ``status``: 429 carries ``retry_after``; 403 says the bot was
        blocked; 409 is a getUpdates conflict; 5xx are server errors. With ``for_seconds``,
        every such call fails from now for that long (an outage of a time, not of a count)."""
        params = {"retry_after": retry_after} if status == 429 else None
        default = {
            429: f"Too Many Requests: retry after {retry_after}",
            403: "Forbidden: bot was blocked by the user",
            409: "Conflict: terminated by other getUpdates request; "
            "make sure that only one bot instance is running",
            400: "Bad Request: injected failure",
            500: "Internal Server Error",
            502: "Bad Gateway",
        }.get(status, f"Error {status}")
        self._faults.add(
            _Injection(
                method,
                chat_id,
                count if for_seconds is None else 1 << 62,  # an outage: every call until it ends
                ApiError(status, description or default, params),
                None if for_seconds is None else self.clock() + for_seconds,
            )
        )

    def delay_answers(self, method: str, seconds: float) -> None:
        """Do ``method``'s work at once but answer ``seconds`` later (the message is in the
        chat even if the bot gives up or dies waiting)."""
        self.answer_delay[method] = seconds

    def clear_failures(self) -> None:
        """The outage is over: failures planned with ``fail_next`` and not yet used are dropped."""
        self._faults.clear()

    def calls(self, method: str, *, ok: bool | None = None) -> list[SandboxRequest]:
        """Recorded requests of ``method`` (case-insensitive), optionally only (un)successful."""
        lower = method.lower()
        return [r for r in self.requests if r.api_method.lower() == lower and (ok is None or r.ok == ok)]

    def sent_to(self, chat_id: int) -> list[dict[str, Any]]:
        """Messages the bot has in ``chat_id`` now (after edits and deletions), oldest first."""
        # This chat's messages picked before sorting: tests ask after every change, and
        # sorting the whole sandbox each time slowed the very server whose timing they measure.
        mine = sorted((mid, m) for (c, mid), m in self.messages.items() if c == chat_id and m["from"]["is_bot"])
        return [m for _, m in mine]

    def force_reply_of(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """The ``ForceReply`` a bot message was sent with (its client opened a reply), if any."""
        msg = self.messages.get((chat_id, message_id))
        return None if msg is None else msg.get("_force_reply")

    def min_seconds(self, per_chat: Mapping[int, int]) -> float:
        """The least time the flood limits allow for sending ``per_chat[chat_id]`` messages to
        each chat, starting idle: the slowest chat or the overall limit, whichever binds."""
        slowest = max((self._chat_seconds(chat_id, count) for chat_id, count in per_chat.items()), default=0.0)
        batches = math.ceil(sum(per_chat.values()) / OVERALL_LIMIT)
        return max(slowest, max(0, batches - 1) * OVERALL_WINDOW)

    def _chat_seconds(self, chat_id: int, count: int) -> float:
        """From the first to the last of ``count`` messages into one chat, each sent as early
        as the chat's limits allow (the fastest any sender can go), on a clock of its own."""
        at = 0.0
        bucket, window = self._chat_limits(chat_id, lambda: at)
        for _ in range(count):
            while (wait := max(bucket.wait_needed(), window.wait_needed(at) if window else 0.0)) > 1e-9:
                at += wait
            bucket.take()
            if window is not None:
                window.hit(at)
        return at

    def _chat_limits(self, chat_id: int, clock: Callable[[], float]) -> tuple[TokenBucket, SlidingWindow | None]:
        """A new chat's limits: about one a second with bursts; a group's 20 a minute too."""
        group = SlidingWindow(GROUP_LIMIT, GROUP_WINDOW) if chat_id < 0 else None
        return TokenBucket(self.chat_burst, CHAT_RATE, clock), group

    async def wait_until(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Wait until ``predicate()`` holds (checked whenever the sandbox changes state);
        TimeoutError after ``within`` seconds."""
        await self._changes.wait_until(predicate, within)

    # --- HTTP ----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        api_method = request.match_info["method"]
        record = SandboxRequest(request.method, request.path, api_method, dict(request.headers), {})
        self.requests.append(record)
        try:
            raw = await self._read_params(request)
            record.params = raw
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            name = self.spec.canonical(api_method)
            if name is None:
                raise ApiError(404, "Not Found")
            try:
                params = self.spec.check(name, raw)
            except SpecError as exc:
                raise _bad(str(exc)) from exc
            record.params = params
            self._inject(name, params)
            handler = getattr(self, f"_api_{name}", None)
            if handler is None:
                raise _bad(f"method {name} is not implemented by the sandbox")
            result = await handler(params)
            body: dict[str, Any] = {"ok": True, "result": result}
            status = 200
        except ApiError as exc:
            body, status = exc.body(), exc.code
        record.status, record.response = status, body
        self._wake()
        delay = self.answer_delay.get(api_method, 0.0)
        if delay:
            await asyncio.sleep(delay)
        return web.json_response(body, status=status)

    @staticmethod
    async def _read_params(request: web.Request) -> dict[str, Any]:
        """Merge query string and body (form, multipart or JSON) as Telegram does."""
        params: dict[str, Any] = dict(request.query)
        if request.method == "GET" or not request.can_read_body:
            return params
        ctype = request.content_type
        if ctype == "application/json":
            try:
                data = await request.json()
            except json.JSONDecodeError as exc:
                raise _bad("can't parse JSON object") from exc
            if not isinstance(data, dict):
                raise _bad("JSON body must be an object")
            params.update(data)
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                params[key] = value if isinstance(value, str | bytes | bytearray) else value.file.read()
        else:
            await request.read()
        return params

    def _inject(self, method: str, params: Mapping[str, Any]) -> None:
        chat = params.get("chat_id")
        now = self.clock()
        planned = self._faults.take(
            lambda inj: (inj.until is None or now < inj.until)
            and (inj.method is None or inj.method.lower() == method.lower())
            and (inj.chat_id is None or chat == inj.chat_id)
        )
        if planned is not None:
            raise planned.error

    def _wake(self) -> None:
        self._changes.notify()

    # --- API methods ---------------------------------------------------------------------

    async def _api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_name,
            "username": self.bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake()  # an older long poll still waiting is terminated (409 below)
        offset = params.get("offset")
        if offset is not None and offset > 0:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        if "allowed_updates" in params:
            self._allowed_updates = list(params["allowed_updates"]) or None
        limit = max(1, min(100, params.get("limit", 100)))
        deadline = time.monotonic() + max(0, params.get("timeout", 0))
        while True:
            ready = [u for u in self._pending if self._wanted(u)][:limit]
            if ready or self._closing:
                return ready
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            try:
                async with asyncio.timeout(remaining):
                    await self._changes.wait()
            except TimeoutError:
                return []
            if self._poll_generation != generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            if self.webhook is not None:
                raise ApiError(409, "Conflict: terminated by setWebhook request")

    def _wanted(self, update: Mapping[str, Any]) -> bool:
        if not self._allowed_updates:
            return True
        return any(kind in update for kind in self._allowed_updates)

    async def _api_setWebhook(self, params: dict[str, Any]) -> bool:
        url = params["url"]
        if not url:
            return await self._api_deleteWebhook(params)
        parts = urlsplit(url)
        loopback = parts.scheme == "http" and parts.hostname in _LOOPBACK
        if not loopback:
            if parts.scheme != "https":
                raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
            if (parts.port or 443) not in _WEBHOOK_PORTS:
                raise _bad("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_RE.match(secret):
            raise _bad("secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._pending.clear()
        if "allowed_updates" in params:
            self._allowed_updates = list(params["allowed_updates"]) or None
        self.webhook = {
            "url": url,
            "secret_token": secret,
            "max_connections": params.get("max_connections", 40),
            "loopback": loopback,
        }
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.create_task(
                self._deliver_webhooks(), name="sandbox-telegram-webhook"
            )
        return True

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self._pending.clear()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            await asyncio.gather(self._webhook_task, return_exceptions=True)
            self._webhook_task = None
        return True

    async def _api_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook:
            info["max_connections"] = self.webhook["max_connections"]
            if self._allowed_updates:
                info["allowed_updates"] = self._allowed_updates
            failures = [d for d in self.webhook_deliveries if d.status is None or d.status >= 300]
            if failures:
                info["last_error_message"] = (
                    failures[-1].error or f"Wrong response from the webhook: {failures[-1].status}"
                )
        return info

    async def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params["chat_id"]
        chat = self._chat_for_send(chat_id)
        plain = self._parse_text(params["text"], params.get("parse_mode"))
        force_reply = self._check_force_reply(params.get("reply_markup"))
        markup = None if force_reply is not None else self._check_markup(params.get("reply_markup"))
        reply = params.get("reply_parameters")
        reply_to: dict[str, Any] | None = None
        if reply is not None:
            if "message_id" not in reply:
                raise _bad("field 'message_id' of reply_parameters is required")
            reply_to = self.messages.get((chat["id"], int(reply["message_id"])))
            if reply_to is None and not reply.get("allow_sending_without_reply"):
                raise _bad("message to be replied not found")
        self._take_flood_token(chat["id"])
        message_id = self._next_message_id(chat["id"])
        msg: dict[str, Any] = {
            "message_id": message_id,
            "from": self._bot_json(),
            "chat": chat,
            "date": int(time.time()),
            "text": plain,
            "_html": params["text"] if params.get("parse_mode") else None,
            "_params": params,
        }
        if params.get("message_thread_id") is not None:
            msg["message_thread_id"] = params["message_thread_id"]
        if reply_to is not None:
            msg["reply_to_message"] = {k: v for k, v in reply_to.items() if not k.startswith("_")}
        if markup is not None:
            msg["reply_markup"] = markup
        if force_reply is not None:
            # The client opens a reply to this message; a Message never shows it back.
            msg["_force_reply"] = force_reply
        self.messages[(chat["id"], message_id)] = msg
        return self._public(msg)

    async def _api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        msg = self._editable(params)
        if "text" not in params:
            raise _bad("text is required when editing a message's text")
        plain = self._parse_text(params["text"], params.get("parse_mode"))
        markup = self._check_markup(params.get("reply_markup"))
        html_text = params["text"] if params.get("parse_mode") else None
        if plain == msg["text"] and html_text == msg.get("_html") and markup == msg.get("reply_markup"):
            raise _bad(
                "message is not modified: specified new message content and reply markup are exactly "
                "the same as a current content and reply markup of the message"
            )
        msg["text"], msg["_html"] = plain, html_text
        # Telegram drops the inline keyboard when an edit does not repeat it.
        if markup is None:
            msg.pop("reply_markup", None)
        else:
            msg["reply_markup"] = markup
        msg["edit_date"] = int(time.time())
        return self._public(msg)

    async def _api_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        msg = self._editable(params)
        markup = self._check_markup(params.get("reply_markup"))
        if markup == msg.get("reply_markup"):
            raise _bad(
                "message is not modified: specified new message content and reply markup are exactly "
                "the same as a current content and reply markup of the message"
            )
        if markup is None:
            msg.pop("reply_markup", None)
        else:
            msg["reply_markup"] = markup
        msg["edit_date"] = int(time.time())
        return self._public(msg)

    async def _api_deleteMessage(self, params: dict[str, Any]) -> bool:
        chat_id = self._chat_id(params["chat_id"])
        if self.messages.pop((chat_id, int(params["message_id"])), None) is None:
            raise _bad("message to delete not found")
        return True

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        query_id = params["callback_query_id"]
        if query_id not in self._open_queries:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        text = params.get("text")
        if text is not None and len(text) > MAX_TOAST:
            raise _bad("MESSAGE_TOO_LONG")
        del self._open_queries[query_id]
        self.callback_answers[query_id] = params
        return True

    async def _api_setMyCommands(self, params: dict[str, Any]) -> bool:
        commands = params["commands"]
        if len(commands) > 100:
            raise _bad("BOT_COMMANDS_TOO_MUCH")
        for cmd in commands:
            if not isinstance(cmd, dict) or set(cmd) - {"command", "description"}:
                raise _bad("BotCommand must have only 'command' and 'description'")
            if not _COMMAND_RE.match(str(cmd.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(cmd.get("description", ""))) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands = list(commands)
        return True

    async def _api_getMyCommands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return list(self.commands)

    async def _api_close(self, params: dict[str, Any]) -> bool:
        return True

    # --- helpers -------------------------------------------------------------------------

    def _user(self, user: SandboxUser | int) -> SandboxUser:
        return user if isinstance(user, SandboxUser) else self.users[user]

    def _bot_json(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.bot_name, "username": self.bot_username}

    @staticmethod
    def _public(msg: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in msg.items() if not k.startswith("_")}

    def _next_message_id(self, chat_id: int) -> int:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)

    def _user_message(self, user: SandboxUser, text: str, chat: dict[str, Any] | None = None) -> dict[str, Any]:
        chat = chat or user.private_chat()
        msg: dict[str, Any] = {
            "message_id": self._next_message_id(chat["id"]),
            "from": user.as_json(),
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        command = re.match(r"^/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]+)?", text)
        if command:
            msg["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16_len(command.group(0))}]
        self.messages[(chat["id"], msg["message_id"])] = msg
        return msg

    def _service_message(self, user: SandboxUser, chat: dict[str, Any], **fields: Any) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "message_id": self._next_message_id(chat["id"]),
            "from": user.as_json(),
            "chat": chat,
            "date": int(time.time()),
            **fields,
        }
        self.messages[(chat["id"], msg["message_id"])] = msg
        return msg

    def _bot_member_update(self, chat_id: int, by: SandboxUser | int, old: str, new: str) -> int:
        bot = {**self._bot_json(), "is_bot": True}

        def member(status: str) -> dict[str, Any]:
            return {"status": status, "user": bot, **({"until_date": 0} if status == "kicked" else {})}

        update = {
            "chat": self.groups[chat_id],
            "from": self._user(by).as_json(),
            "date": int(time.time()),
            "old_chat_member": member(old),
            "new_chat_member": member(new),
        }
        return self._enqueue({"my_chat_member": update})

    def _member_json(self, chat_id: int, user_id: int) -> dict[str, Any]:
        """The ``ChatMember`` of ``user_id`` in ``chat_id``."""
        known = self.users.get(user_id)
        user = known.as_json() if known else {"id": user_id, "is_bot": False, "first_name": "?"}
        if user_id == self._group_creator.get(chat_id):
            return {"status": "creator", "user": user, "is_anonymous": False}
        if user_id in self.group_admins.get(chat_id, ()):
            return {
                "status": "administrator",
                "user": user,
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": True,
                "can_restrict_members": True,
                "can_promote_members": False,
                "can_change_info": True,
                "can_invite_users": True,
                "can_post_stories": False,
                "can_edit_stories": False,
                "can_delete_stories": False,
            }
        if user_id in self.group_members.get(chat_id, ()):
            return {"status": "member", "user": user}
        return {"status": "left", "user": user}

    def _group(self, chat_id: Any) -> int:
        """A group the bot is in, by id; Telegram's errors otherwise."""
        cid = self._chat_id(chat_id)
        if cid in self.migrated:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self.migrated[cid]},
            )
        if cid not in self.groups:
            raise _bad("chat not found")
        if cid in self.bot_removed:
            raise ApiError(403, "Forbidden: bot was kicked from the group chat")
        return cid

    async def _api_getChatAdministrators(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        cid = self._group(params["chat_id"])
        return [self._member_json(cid, uid) for uid in sorted(self.group_admins.get(cid, ()))]

    async def _api_getChatMember(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._group(params["chat_id"])
        return self._member_json(cid, int(params["user_id"]))

    async def _api_getChatMemberCount(self, params: dict[str, Any]) -> int:
        cid = self._group(params["chat_id"])
        return len(self.group_members.get(cid, ())) + 1  # the bot counts

    async def _api_getChat(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = self._group(params["chat_id"])
        gifts = {"unlimited_gifts": False, "limited_gifts": False, "unique_gifts": False, "premium_subscription": False}
        return {**self.groups[cid], "accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": gifts}

    def _enqueue(self, payload: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        self._pending.append({"update_id": update_id, **payload})
        self._wake()
        return update_id

    def _chat_id(self, value: Any) -> int:
        if isinstance(value, int):
            return value
        raise _bad("chat not found")

    def _chat_for_send(self, value: Any) -> dict[str, Any]:
        chat_id = self._chat_id(value)
        if chat_id in self.groups or chat_id in self.migrated:
            return self.groups[self._group(chat_id)]
        user = self.users.get(chat_id)
        if user is None:
            raise _bad("chat not found")
        if user.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if not user.started:
            raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        return user.private_chat()

    def _editable(self, params: Mapping[str, Any]) -> dict[str, Any]:
        if "inline_message_id" in params:
            raise _bad("inline messages are not modelled by the sandbox")
        if "chat_id" not in params or "message_id" not in params:
            raise _bad("chat_id and message_id are required")
        msg = self.messages.get((self._chat_id(params["chat_id"]), int(params["message_id"])))
        if msg is None:
            raise _bad("message to edit not found")
        if not msg["from"]["is_bot"] or msg["from"]["id"] != self.bot_id:
            raise _bad("message can't be edited")
        return msg

    @staticmethod
    def _parse_text(text: str, parse_mode: str | None) -> str:
        if parse_mode is None or parse_mode == "":
            plain = text
        elif parse_mode.upper() == "HTML":
            try:
                plain = parse_html(text)
            except EntityParseError as exc:
                raise _bad(f"can't parse entities: {exc}") from exc
        else:
            raise _bad(f"the sandbox implements parse_mode HTML only, not {parse_mode!r}")
        if not plain.strip():
            raise _bad("message text is empty")
        if len(plain) > MAX_TEXT:
            raise _bad("message is too long")
        return plain

    @staticmethod
    def _check_force_reply(markup: Any) -> dict[str, Any] | None:
        """A ``ForceReply`` (sendMessage only; the spec check has matched its fields), or
        None for any other markup. Refuses what Telegram refuses in one."""
        if not isinstance(markup, dict) or "force_reply" not in markup:
            return None
        if markup["force_reply"] is not True:
            raise _bad("force_reply must be True")
        placeholder = markup.get("input_field_placeholder")
        if placeholder is not None and not 1 <= len(placeholder) <= 64:
            raise _bad("input_field_placeholder must be 1-64 characters")
        return markup

    @staticmethod
    def _check_markup(markup: Any) -> dict[str, Any] | None:
        if markup is None:
            return None
        if not isinstance(markup, dict) or "inline_keyboard" not in markup:
            raise _bad("the sandbox models inline keyboards only")
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise _bad('field "inline_keyboard" must be an Array of Array of InlineKeyboardButton')
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not button.get("text"):
                    raise _bad("BUTTON_TEXT_INVALID")
                if button.get("style", "primary") not in ("danger", "success", "primary"):
                    raise _bad("BUTTON_STYLE_INVALID")
                kinds = set(button) - {"text", "style", "icon_custom_emoji_id"}
                if len(kinds) != 1:
                    raise _bad("exactly one of the optional fields of InlineKeyboardButton must be used")
                if "callback_data" in button:
                    data = button["callback_data"]
                    if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA:
                        raise _bad("BUTTON_DATA_INVALID")
                elif "url" in button:
                    if urlsplit(str(button["url"])).scheme not in ("http", "https", "tg"):
                        raise _bad("BUTTON_URL_INVALID")
                else:
                    raise _bad(f"the sandbox does not model button kind {sorted(kinds)[0]!r}")
        return markup

    def _take_flood_token(self, chat_id: int) -> None:
        if not self.enforce_limits:
            return
        now = self.clock()
        if chat_id not in self._chat_limits_of:
            self._chat_limits_of[chat_id] = self._chat_limits(chat_id, self.clock)
        bucket, group = self._chat_limits_of[chat_id]
        windows = [self._overall] if group is None else [self._overall, group]
        wait = max([bucket.wait_needed()] + [window.wait_needed(now) for window in windows])
        if wait > 0:
            retry = max(1, math.ceil(wait))
            raise ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
        bucket.take()
        for window in windows:
            window.hit(now)

    async def _deliver_webhooks(self) -> None:
        """POST queued updates to the webhook one by one; non-2xx means try again later."""
        while self.webhook is not None and not self._closing:
            hook = self.webhook
            update = next((u for u in self._pending if self._wanted(u)), None)
            if update is None:
                await self._changes.wait()
                continue
            status: int | None = None
            error = ""
            if not hook["loopback"]:
                error = "the sandbox delivers to loopback webhooks only"
            else:
                headers = {"Content-Type": "application/json"}
                if hook["secret_token"]:
                    headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret_token"]
                assert self._client is not None
                try:
                    async with self._client.post(
                        hook["url"], data=json.dumps(update), headers=headers
                    ) as resp:
                        status = resp.status
                        await resp.read()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    error = f"Connection failed: {exc!r}"
            self.webhook_deliveries.append(WebhookDelivery(update["update_id"], hook["url"], status, error))
            if status is not None and 200 <= status < 300:
                self._pending = [u for u in self._pending if u["update_id"] != update["update_id"]]
                self._wake()
            else:
                self._wake()
                await asyncio.sleep(self.redelivery_delay)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


async def _serve(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.INFO)
    sandbox = SandboxTelegram(args.token, bot_username=args.username)
    await sandbox.start(args.port)
    sandbox.add_user(1001, "Ada", last_name="Lovelace", username="ada", started=False)
    await serve_forever(
        sandbox,
        f"Telegram sandbox: base_url={sandbox.api_url} base_file_url={sandbox.file_url} token={args.token}\n"
        "demo user 1001 (Ada Lovelace) exists; nothing is queued",
        args.control_port,
    )


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--token", default="123456789:SANDBOX-token_for-tests")
    parser.add_argument("--username", default="pluto_sandbox_bot")


def main(argv: list[str] | None = None) -> None:
    """``python -m sandbox.telegram --port N``: run the fake Bot API until interrupted."""
    run_main(__doc__ or "", _serve, argv, default_port=8081, options=_options)


if __name__ == "__main__":
    main()
