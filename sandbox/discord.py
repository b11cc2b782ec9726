"""A stand-in for Discord on 127.0.0.1: REST under ``/api/v10`` and the gateway at ``/gw``.

It is "the outside world" for the bridge's tests: it never imports ``bridge`` or ``adapters``.
What it models (see /work/shared/reference/platforms.md section 4):

* REST: the calls discord.py makes to log in, open DMs, send/edit/delete channel messages,
  read a channel's recent messages (``before``/``after``/``around`` snowflakes, newest first),
  register application commands, answer interactions and use interaction webhooks. Every
  answer carries Discord's rate-limit headers; JSON answers use exactly
  ``Content-Type: application/json`` (discord.py decodes nothing else).
* Limits: the per-channel message bucket (5 per 5 s) and the global 50 requests/s, both
  switchable with ``enforce_limits``; the 2000-character content limit; 429 bodies and
  headers shaped like Discord's (including ``Via``, without which discord.py assumes a
  Cloudflare ban).
* Spec checks: request bodies are validated against the official OpenAPI document; strictly
  (400, code 50035) for message create/edit and interaction callbacks, leniently (recorded in
  ``spec_errors``) elsewhere.
* Gateway: HELLO, heartbeat ACK, IDENTIFY (token and MESSAGE_CONTENT intent checks), READY,
  dispatches with increasing ``s``, RESUME with replay of missed events, RECONNECT,
  INVALID_SESSION, zlib-stream compression when asked, and abrupt connection drops.
* Interactions: the initial callback must come within ``interaction_deadline`` (3 s) of the
  INTERACTION_CREATE dispatch, else 404 with code 10062 "Unknown interaction", as Discord
  answers; measured on an injectable ``interaction_clock`` so tests need not wait.
* Builders that play the people: ``user_dm``, ``user_slash``, ``user_clicks``, ``user_submits_modal``
  (which, like Discord's client, will not submit a modal with a required field left empty).

Run standalone with ``python -m sandbox.discord --port N``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import secrets
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aiohttp import WSMsgType, web

from sandbox.discord_guilds import GuildsMixin
from sandbox.kit import FaultPlan, Recorder, SlidingWindow, listen, run_main, serve_forever
from sandbox.specs import spec_path

SPEC_FILE = "discord_openapi.json"
API_PREFIX = "/api/v10"

# Gateway opcodes.
OP_DISPATCH, OP_HEARTBEAT, OP_IDENTIFY, OP_RESUME, OP_RECONNECT = 0, 1, 2, 6, 7
OP_INVALID_SESSION, OP_HELLO, OP_HEARTBEAT_ACK = 9, 10, 11
MESSAGE_CONTENT_INTENT = 1 << 15
EPHEMERAL = 1 << 6
DISCORD_EPOCH_MS = 1420070400000  # snowflakes count milliseconds from 2015-01-01

# Operations whose bodies our code composes: a spec violation is rejected (400, 50035).
STRICT_OPERATIONS = frozenset(
    {
        ("/channels/{channel_id}/messages", "post"),
        ("/channels/{channel_id}/messages/{message_id}", "patch"),
        ("/interactions/{interaction_id}/{interaction_token}/callback", "post"),
    }
)


# --- recording and switches -----------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One REST request as the sandbox received it."""

    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int = 0  # what the sandbox answered
    at: float = field(default_factory=time.monotonic)  # when it arrived


@dataclass
class Injection:
    """A failure to return instead of handling the next ``count`` matching requests."""

    status: int
    method: str | None = None
    path_contains: str | None = None
    channel_id: str | None = None
    count: int = 1
    retry_after: float = 1.0
    code: int = 0
    message: str = ""
    is_global: bool = False
    delay: float = 0.0  # seconds the request hangs before the failure is answered (a timeout)

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        if self.path_contains and self.path_contains not in path:
            return False
        return not (self.channel_id and f"/channels/{self.channel_id}/" not in path + "/")


@dataclass
class _Interaction:
    payload: dict[str, Any]
    created_at: float = 0.0  # on the sandbox's interaction clock, when INTERACTION_CREATE went out
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    followups: list[dict[str, Any]] = field(default_factory=list)
    original: dict[str, Any] | None = None


@dataclass
class _Session:
    session_id: str
    seq: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)  # dispatch frames, in order
    conn: _Conn | None = None


class _Conn:
    """One gateway websocket, with its optional zlib-stream context."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, compress: bool) -> None:
        self.ws = ws
        self.request = request
        self._zlib = zlib.compressobj() if compress else None
        self.session: _Session | None = None

    async def send(self, frame: dict[str, Any]) -> None:
        data = json.dumps(frame, separators=(",", ":")).encode()
        if self._zlib is None:
            await self.ws.send_str(data.decode())
        else:
            # One compression context per connection; every frame ends with 00 00 ff ff.
            await self.ws.send_bytes(self._zlib.compress(data) + self._zlib.flush(zlib.Z_SYNC_FLUSH))

    def drop(self) -> None:
        """Close the TCP connection without a websocket close frame."""
        transport = self.request.transport
        if transport is not None:
            transport.close()


# --- spec validation --------------------------------------------------------------------------


@cache
def _spec_registry() -> Any:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    spec = json.loads(spec_path(SPEC_FILE).read_text())
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    return Registry().with_resource("urn:discord", resource)


@cache
def _validator(path: str, method: str) -> Any:
    from jsonschema import Draft202012Validator

    pointer = path.replace("~", "~0").replace("/", "~1")
    ref = f"urn:discord#/paths/{pointer}/{method}/requestBody/content/application~1json/schema"
    return Draft202012Validator({"$ref": ref}, registry=_spec_registry())


def _normalise_snowflakes(value: Any, key: str = "") -> Any:
    """discord.py sends ids as ints; the spec types snowflakes as strings (both accepted)."""
    if isinstance(value, dict):
        return {k: _normalise_snowflakes(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise_snowflakes(v, key) for v in value]
    is_id_key = key == "id" or key.endswith("_id") or key in ("users", "roles")
    if is_id_key and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def spec_errors_for(path: str, method: str, body: Any) -> dict[str, Any]:
    """Validate ``body`` for one operation of the OpenAPI spec; Discord-shaped ``errors`` or {}."""
    errors: dict[str, Any] = {}
    for error in _validator(path, method).iter_errors(_normalise_snowflakes(body)):
        node = errors
        for part in error.absolute_path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": "BASE_TYPE_INVALID", "message": error.message[:200]})
    return errors


# --- the sandbox ----------------------------------------------------------------------------------


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


class ModalRefused(Exception):
    """Discord's client would not let the person submit this modal (a required field is empty,
    or a value is outside the field's length limits)."""


class SandboxDiscord(GuildsMixin):
    """Discord REST + gateway on 127.0.0.1, recording everything it receives.

    Switches (plain attributes, change them at any time): ``enforce_limits`` (rate-limit
    buckets and 429s), ``channel_limit`` (count, seconds) of the per-channel message bucket,
    ``global_limit`` requests per second, ``message_content_granted`` (False: an IDENTIFY
    asking for MESSAGE_CONTENT is closed with 4014, as when the portal grant is missing),
    ``heartbeat_interval_ms``, ``resume_overlap`` (events before the client's seq replayed
    again on RESUME), ``interaction_deadline`` (seconds from an INTERACTION_CREATE to its
    initial callback, 3 as on Discord; None: no deadline). ``interaction_clock`` (a
    constructor argument, ``time.monotonic`` by default) measures that deadline. Failures:
    ``inject``, ``answer_delay``; DMs: ``close_dms``; gateway: ``drop_connection``, ``send_reconnect``,
    ``invalidate_session``.
    """

    def __init__(
        self,
        *,
        token: str = "sandbox-bot-token",
        application_id: str = "1100000000000000001",
        bot_name: str = "PlutoBridge",
        enforce_limits: bool = True,
        message_content_granted: bool = True,
        interaction_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token
        self.application_id = application_id
        self.bot_user: dict[str, Any] = self._user_payload(application_id, bot_name, bot=True)
        self.enforce_limits = enforce_limits
        self.message_content_granted = message_content_granted
        self.channel_limit: tuple[int, float] = (5, 5.0)
        self.global_limit = 50
        self.heartbeat_interval_ms = 41250
        # Replay this many already-acknowledged events too on RESUME (at-least-once delivery).
        self.resume_overlap = 0
        # Discord drops an interaction not answered within 3 s of its dispatch (10062).
        self.interaction_deadline: float | None = 3.0
        self.interaction_clock = interaction_clock

        self.requests: Recorder[RecordedRequest] = Recorder()
        self.gateway_frames: list[dict[str, Any]] = []  # frames received from clients
        self.gateway_connects: list[dict[str, str]] = []  # query of each websocket connection
        self.spec_errors: list[tuple[str, str, dict[str, Any]]] = []  # lenient operations only
        self.users: dict[str, dict[str, Any]] = {}
        self.closed_dms: set[str] = set()
        self.dm_channels: dict[str, str] = {}  # user id -> DM channel id
        self.channel_users: dict[str, str] = {}  # DM channel id -> user id
        self.messages: dict[str, dict[str, dict[str, Any]]] = {}  # channel -> id -> message
        self.commands: dict[str, list[dict[str, Any]]] = {}  # "global" or guild id -> commands
        self.interactions: dict[str, _Interaction] = {}
        self.faults: FaultPlan[Injection] = FaultPlan(drop_spent=True)
        self._init_guilds()  # servers, channels, webhooks: sandbox.discord_guilds

        self._last_id = 0
        # Message creates are stored at once but answered this many seconds later (the
        # message is in the channel even if the bot gives up or dies waiting).
        self.answer_delay = 0.0
        self._buckets: dict[tuple[str, str], SlidingWindow] = {}
        self._global = SlidingWindow(self.global_limit, 1.0)
        self._sessions: dict[str, _Session] = {}
        self._current: _Session | None = None
        self._conns: set[_Conn] = set()
        self._connected = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, port: int = 0) -> str:
        """Listen on 127.0.0.1 (``port`` 0 picks a free one); returns the base URL."""
        app = web.Application()
        app.router.add_get("/gw", self._gateway)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        self._runner, self.base_url = await listen(app, port)
        return self.base_url

    async def stop(self) -> None:
        """Close every gateway connection and the HTTP server."""
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                await conn.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_base(self) -> str:
        """What ``discord.http.Route.BASE`` must be set to."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """What ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` must be set to."""
        return self.base_url.replace("http://", "ws://") + "/gw"

    # -- model helpers ---------------------------------------------------------------------

    def snowflake(self) -> str:
        """A new, increasing id shaped as Discord's: milliseconds since the Discord epoch in
        the top bits, so ``before``/``after`` filters built from a time work as on Discord."""
        stamp = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last_id = max(self._last_id + 1, stamp)
        return str(self._last_id)

    @staticmethod
    def _user_payload(user_id: str, name: str, *, bot: bool = False) -> dict[str, Any]:
        return {
            "id": user_id,
            "username": name.lower(),
            "discriminator": "0",
            "global_name": name,
            "avatar": None,
            "bot": bot,
            "public_flags": 0,
            "flags": 0,
        }

    def add_user(self, user_id: str | None = None, name: str = "Ada", *, dms_open: bool = True) -> str:
        """Create a person who can DM the bot; returns the user id."""
        uid = user_id or self.snowflake()
        self.users[uid] = self._user_payload(uid, name)
        if not dms_open:
            self.closed_dms.add(uid)
        return uid

    def close_dms(self, user_id: str, closed: bool = True) -> None:
        """Switch: the person no longer accepts DMs from the bot (403, code 50007)."""
        if closed:
            self.closed_dms.add(user_id)
        else:
            self.closed_dms.discard(user_id)

    def dm_channel_of(self, user_id: str) -> str:
        """The DM channel between the bot and this person, created on first use."""
        if user_id not in self.users:
            self.add_user(user_id)
        if user_id not in self.dm_channels:
            cid = self.snowflake()
            self.dm_channels[user_id] = cid
            self.channel_users[cid] = user_id
            self.messages[cid] = {}
        return self.dm_channels[user_id]

    def _dm_channel_payload(self, channel_id: str) -> dict[str, Any]:
        user = self.users[self.channel_users[channel_id]]
        return {"id": channel_id, "type": 1, "recipients": [user], "last_message_id": None, "flags": 0}

    @property
    def session_seq(self) -> int:
        """The last sequence number dispatched in the current gateway session (0 if none)."""
        return self._current.seq if self._current else 0

    @property
    def session_id(self) -> str | None:
        """The current gateway session id."""
        return self._current.session_id if self._current else None

    def message_payload(self, channel_id: str, author: dict[str, Any], content: str) -> dict[str, Any]:
        """A spec-shaped message object (for tests that dispatch unusual MESSAGE_CREATEs)."""
        return self._message(channel_id, author, content)

    def _message(
        self,
        channel_id: str,
        author: dict[str, Any],
        content: str,
        *,
        components: list[Any] | None = None,
        reference: dict[str, Any] | None = None,
        flags: int = 0,
        webhook_id: str | None = None,
    ) -> dict[str, Any]:
        mentions = [
            self.users[uid] for uid in self.users if f"<@{uid}>" in content or f"<@!{uid}>" in content
        ]
        message: dict[str, Any] = {
            "id": self.snowflake(),
            "type": 19 if reference else 0,
            "channel_id": channel_id,
            "author": author,
            "content": content,
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": mentions,
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "flags": flags,
            "components": components or [],
        }
        if reference:
            message["message_reference"] = reference
        if webhook_id:
            message["webhook_id"] = webhook_id
            message["application_id"] = self.application_id
        return message

    def sent_by_bot(self, channel_id: str | None = None) -> list[dict[str, Any]]:
        """Messages the bot posted (in one channel, or everywhere), oldest first."""
        channels = [channel_id] if channel_id else list(self.messages)
        return [
            m
            for cid in channels
            for m in self.messages.get(cid, {}).values()
            if m["author"]["id"] == self.bot_user["id"]
        ]

    @property
    def injections(self) -> list[Injection]:
        """The planned failures not spent yet (a test may remove one: the outage ends)."""
        return self.faults.faults

    def inject(self, status: int, **match: Any) -> Injection:
        """Answer the next matching request(s) with ``status`` (429 gets Discord's 429 shape).

        Keywords: method, path_contains, channel_id, count, retry_after, code, message, is_global,
        delay (seconds the request hangs first: nothing is stored, as when it never arrived).
        """
        injection = Injection(status=status, **match)
        self.faults.add(injection)
        return injection

    def channel_remaining(self, channel_id: str) -> int:
        """How many messages the channel's bucket would take right now (its full limit when idle)."""
        route, _major, limit, _window = self._bucket_key("POST", f"/channels/{channel_id}/messages")
        bucket = self._buckets.get((route, channel_id))
        return bucket.remaining(time.monotonic()) if bucket is not None else limit

    def requests_to(self, method: str, path_contains: str = "") -> list[RecordedRequest]:
        """Recorded requests with this method whose path contains ``path_contains``."""
        return [r for r in self.requests if r.method == method and path_contains in r.path]

    async def wait_until(self, predicate: Callable[[], Any], within: float = 10.0) -> None:
        """Poll ``predicate`` until it is truthy (tests wait for effects, not for time)."""
        deadline = asyncio.get_running_loop().time() + within
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("sandbox condition not reached")
            await asyncio.sleep(0.01)

    async def wait_connected(self, within: float = 10.0) -> None:
        """Wait until a gateway session is identified or resumed and live."""
        await asyncio.wait_for(self._connected.wait(), within)

    # -- HTTP plumbing ---------------------------------------------------------------------

    @staticmethod
    def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        # discord.py decodes JSON only for exactly this Content-Type (no charset).
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        return web.Response(status=status, body=json.dumps(data).encode(), headers=hdrs)

    @staticmethod
    def _error(status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> web.Response:
        body: dict[str, Any] = {"message": message, "code": code}
        if errors:
            body["errors"] = errors
        return SandboxDiscord._json(body, status)

    def _bucket_key(self, method: str, path: str) -> tuple[str, str, int, float]:
        """(route template, major parameter, limit, window) of a request's bucket."""
        parts = path.strip("/").split("/")
        if parts[0] == "channels" and len(parts) >= 3 and parts[2] == "messages" and method == "POST":
            return ("POST /channels/{id}/messages", parts[1], *self.channel_limit)
        if parts[0] == "channels" and len(parts) >= 2:
            return (f"{method} /channels/{{id}}/{'/'.join(parts[2:3])}", parts[1], 50, 1.0)
        if parts[0] == "webhooks" and len(parts) == 3 and parts[1] in self.webhooks and method == "POST":
            return ("POST /webhooks/{id}/{token}", parts[1], *self.webhook_limit)  # a channel webhook
        if parts[0] in ("webhooks", "interactions") and len(parts) >= 3:
            return (f"{method} /{parts[0]}/{{id}}/{{token}}", parts[1], 50, 1.0)
        return (f"{method} /{'/'.join(parts[:2])}", "", 50, 1.0)

    def _ratelimit_headers(self, route: str, bucket: SlidingWindow, now: float) -> dict[str, str]:
        remaining = bucket.remaining(now) if self.enforce_limits else bucket.limit
        reset_after = bucket.reset_after(now) if self.enforce_limits else bucket.window
        return {
            "X-RateLimit-Limit": str(bucket.limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": hashlib.sha1(route.encode()).hexdigest()[:16],
        }

    @staticmethod
    def _too_many(
        retry_after: float, headers: dict[str, str], *, is_global: bool, scope: str
    ) -> web.Response:
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": is_global,
        }
        hdrs = {
            **headers,
            "Retry-After": str(max(1, round(retry_after))),
            "X-RateLimit-Scope": scope,
            # Without Via discord.py takes a 429 for a Cloudflare ban.
            "Via": "1.1 google",
        }
        if is_global:
            hdrs["X-RateLimit-Global"] = "true"
        return SandboxDiscord._json(body, 429, hdrs)

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body: Any = None
        raw = await request.read()
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        record = RecordedRequest(request.method, path, dict(request.query), dict(request.headers), body)
        self.requests.append(record)
        response = await self._answer(request, path, body)
        record.status = response.status
        return response

    async def _answer(self, request: web.Request, path: str, body: Any) -> web.Response:
        method = request.method
        now = time.monotonic()
        route, major, limit, window = self._bucket_key(method, path)
        bucket = self._buckets.setdefault((route, major), SlidingWindow(limit, window))
        if bucket.limit != limit or bucket.window != window:
            bucket.limit, bucket.window = limit, window
        headers = self._ratelimit_headers(route, bucket, now)

        injection = self.faults.take(lambda f: f.matches(method, path))
        if injection is not None:
            if injection.delay:
                await asyncio.sleep(injection.delay)
            if injection.status == 429:
                scope = "global" if injection.is_global else "user"
                headers["X-RateLimit-Remaining"] = "0"
                return self._too_many(injection.retry_after, headers, is_global=injection.is_global, scope=scope)
            resp = self._error(injection.status, injection.code, injection.message or "injected failure")
            resp.headers.update(headers)
            return resp

        interaction_route = path.startswith(("/interactions/", "/webhooks/"))
        if self.enforce_limits and route == "POST /webhooks/{id}/{token}" and not bucket.take(now):
            # A channel webhook: its own bucket, outside the bot's global limit.
            return self._too_many(bucket.reset_after(now), headers, is_global=False, scope="user")
        if route == "POST /webhooks/{id}/{token}":
            headers = self._ratelimit_headers(route, bucket, now)
        if self.enforce_limits and not interaction_route:
            self._global.limit = self.global_limit  # tests may lower it on a running sandbox
            if not self._global.take(now):
                retry = self._global.reset_after(now)
                return self._too_many(retry, headers, is_global=True, scope="global")
            if not bucket.take(now):
                return self._too_many(bucket.reset_after(now), headers, is_global=False, scope="user")
            headers = self._ratelimit_headers(route, bucket, now)

        if not interaction_route and request.headers.get("Authorization") != f"Bot {self.token}":
            return self._error(401, 0, "401: Unauthorized")
        response = self._route(method, path, request, body)
        response.headers.update(headers)
        if self.answer_delay and method == "POST" and path.endswith("/messages") and response.status == 200:
            await asyncio.sleep(self.answer_delay)
        return response

    def _check(self, template: str, method: str, body: Any) -> web.Response | None:
        """Validate against the spec; strict operations answer 400/50035, others are noted."""
        errors = spec_errors_for(template, method, body if body is not None else {})
        if not errors:
            return None
        if (template, method) in STRICT_OPERATIONS:
            return self._error(400, 50035, "Invalid Form Body", errors)
        self.spec_errors.append((method, template, errors))
        return None

    def _route(self, method: str, path: str, request: web.Request, body: Any) -> web.Response:
        p = path.strip("/").split("/")
        n = len(p)
        guild_answer = self.guild_route(method, p, request.query, body)
        if guild_answer is not None:
            return guild_answer
        if p[0] == "channels" and n >= 3 and p[2] == "messages" and method == "POST":
            problem = self._guild_channel(p[1]) if p[1] in self.guild_channels else None
            if problem is not None:
                return problem
        if method == "GET" and path == "/users/@me":
            return self._json(self.bot_user)
        if method == "GET" and path == "/oauth2/applications/@me":
            return self._json(self._application())
        if method == "GET" and path == "/gateway/bot":
            return self._json(
                {
                    "url": self.gateway_url,
                    "shards": 1,
                    "session_start_limit": {
                        "total": 1000,
                        "remaining": 999,
                        "reset_after": 0,
                        "max_concurrency": 1,
                    },
                }
            )
        if method == "GET" and path == "/gateway":
            return self._json({"url": self.gateway_url})
        if method == "POST" and path == "/users/@me/channels":
            return self._open_dm(body)
        if p[0] == "channels" and n == 3 and p[2] == "messages" and method == "GET":
            return self._history(p[1], request.query)
        if p[0] == "channels" and n >= 3 and p[2] == "messages":
            return self._channel_messages(method, p, body)
        if p[0] == "applications" and p[-1] == "commands" and method == "PUT":
            scope = p[3] if n == 5 else "global"
            template = (
                "/applications/{application_id}/guilds/{guild_id}/commands"
                if n == 5
                else "/applications/{application_id}/commands"
            )
            return self._put_commands(template, scope, body)
        if p[0] == "applications" and p[-1] == "commands" and method == "GET":
            return self._json(self.commands.get(p[3] if n == 5 else "global", []))
        if p[0] == "interactions" and n == 4 and p[3] == "callback" and method == "POST":
            return self._callback(p[1], p[2], request, body)
        if p[0] == "webhooks" and n >= 3:
            return self._webhook(method, p, body)
        return self._error(404, 0, "404: Not Found")

    def _application(self) -> dict[str, Any]:
        return {
            "id": self.application_id,
            "name": self.bot_user["global_name"],
            "description": "",
            "icon": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": self._user_payload(self.snowflake(), "Owner"),
            "flags": 1 << 19,  # GATEWAY_MESSAGE_CONTENT_LIMITED
            "bot": self.bot_user,
        }

    def _open_dm(self, body: Any) -> web.Response:
        self._check("/users/@me/channels", "post", body)
        recipient = str((body or {}).get("recipient_id", ""))
        if recipient not in self.users:
            return self._error(400, 50035, "Invalid Form Body", {"recipient_id": {"_errors": []}})
        if recipient in self.closed_dms:
            return self._error(403, 50007, "Cannot send messages to this user")
        return self._json(self._dm_channel_payload(self.dm_channel_of(recipient)))

    def _validate_content(self, body: Any) -> web.Response | None:
        content = (body or {}).get("content")
        if isinstance(content, str) and len(content) > 2000:
            return self._error(
                400,
                50035,
                "Invalid Form Body",
                {
                    "content": {
                        "_errors": [
                            {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}
                        ]
                    }
                },
            )
        return None

    def _history(self, channel_id: str, query: Mapping[str, str]) -> web.Response:
        """GET /channels/{id}/messages as Discord documents it: ``limit`` 1-100 (default 50);
        at most one of ``around``, ``before``, ``after`` (snowflakes); newest first."""
        if channel_id not in self.messages:
            return self._error(404, 10003, "Unknown Channel")
        anchors = [key for key in ("around", "before", "after") if key in query]
        try:
            limit = int(query.get("limit", "50"))
            anchor = int(query[anchors[0]]) if anchors else 0
        except ValueError:
            return self._error(400, 50035, "Invalid Form Body", {"limit": {"_errors": []}})
        if not 1 <= limit <= 100 or len(anchors) > 1:
            return self._error(400, 50035, "Invalid Form Body", {"limit": {"_errors": []}})
        ordered = sorted(self.messages[channel_id].values(), key=lambda m: int(m["id"]))
        if not anchors:
            chosen = ordered[-limit:]
        elif anchors[0] == "before":
            chosen = [m for m in ordered if int(m["id"]) < anchor][-limit:]
        elif anchors[0] == "after":
            chosen = [m for m in ordered if int(m["id"]) > anchor][:limit]  # the ones just after it
        else:
            older = [m for m in ordered if int(m["id"]) < anchor][-(limit // 2) :] if limit > 1 else []
            chosen = (older + [m for m in ordered if int(m["id"]) >= anchor])[:limit]
        return self._json(list(reversed(chosen)))

    def _channel_messages(self, method: str, p: list[str], body: Any) -> web.Response:
        channel_id = p[1]
        if channel_id not in self.messages:
            return self._error(404, 10003, "Unknown Channel")
        if method == "POST" and len(p) == 3:
            problem = self._check("/channels/{channel_id}/messages", "post", body) or self._validate_content(
                body
            )
            if problem:
                return problem
            if self.channel_users.get(channel_id) in self.closed_dms:
                return self._error(403, 50007, "Cannot send messages to this user")
            reference = body.get("message_reference")
            if reference:
                reference = _normalise_snowflakes({**reference, "channel_id": channel_id})
            message = self._message(
                channel_id,
                self.bot_user,
                body.get("content", ""),
                components=body.get("components"),
                reference=reference,
                flags=int(body.get("flags") or 0),
            )
            message["allowed_mentions"] = body.get("allowed_mentions")  # kept for assertions
            self.messages[channel_id][message["id"]] = message
            return self._json(message)
        if len(p) != 4:
            return self._error(404, 0, "404: Not Found")
        message_id = p[3]
        found = self.messages[channel_id].get(message_id)
        if found is None:
            return self._error(404, 10008, "Unknown Message")
        if method == "PATCH":
            problem = self._check("/channels/{channel_id}/messages/{message_id}", "patch", body)
            problem = problem or self._validate_content(body)
            if problem:
                return problem
            self._apply_edit(found, body)
            return self._json(found)
        if method == "DELETE":
            del self.messages[channel_id][message_id]
            return web.Response(status=204)
        if method == "GET":
            return self._json(found)
        return self._error(405, 0, "405: Method Not Allowed")

    @staticmethod
    def _apply_edit(message: dict[str, Any], body: dict[str, Any]) -> None:
        for key in ("content", "components", "flags", "embeds"):
            if key in body:
                message[key] = body[key]
        if "allowed_mentions" in body:
            message["allowed_mentions"] = body["allowed_mentions"]
        message["edited_timestamp"] = _now_iso()

    def _put_commands(self, template: str, scope: str, body: Any) -> web.Response:
        self._check(template, "put", body)
        registered = []
        for command in body or []:
            registered.append(
                {
                    "id": self.snowflake(),
                    "application_id": self.application_id,
                    "version": self.snowflake(),
                    "type": command.get("type", 1),
                    "name": command["name"],
                    "description": command.get("description", ""),
                    "options": command.get("options", []),
                    "default_member_permissions": command.get("default_member_permissions"),
                    "dm_permission": command.get("dm_permission", True),
                    "nsfw": command.get("nsfw", False),
                    "integration_types": command.get("integration_types", [0]),
                    "contexts": command.get("contexts"),
                }
            )
        self.commands[scope] = registered
        return self._json(registered)

    def _callback(self, interaction_id: str, token: str, request: web.Request, body: Any) -> web.Response:
        interaction = self.interactions.get(interaction_id)
        if interaction is None or interaction.payload["token"] != token:
            return self._error(404, 10062, "Unknown interaction")
        deadline = self.interaction_deadline
        if deadline is not None and self.interaction_clock() - interaction.created_at > deadline:
            return self._error(404, 10062, "Unknown interaction")  # too late: Discord forgot it
        problem = self._check("/interactions/{interaction_id}/{interaction_token}/callback", "post", body)
        if problem:
            return problem
        if interaction.callbacks:
            return self._error(400, 40060, "Interaction has already been acknowledged.")
        interaction.callbacks.append(body)
        kind = body["type"]
        data = body.get("data") or {}
        ephemeral = bool(int(data.get("flags") or 0) & EPHEMERAL)
        payload = interaction.payload
        channel_id = payload["channel_id"]
        message: dict[str, Any] | None = None
        if kind in (4, 5):  # a new message (5: "thinking..." until edited)
            message = self._message(
                channel_id,
                self.bot_user,
                data.get("content", ""),
                components=data.get("components"),
                flags=(EPHEMERAL if ephemeral else 0) | (128 if kind == 5 else 0),
                webhook_id=self.application_id,
            )
            interaction.original = message
        elif kind == 7:  # update the component's message
            target = self._pressed_message(interaction)
            if target is not None:
                self._apply_edit(target, data)
                message = target
        elif kind == 6:
            message = self._pressed_message(interaction)
        if request.query.get("with_response") in ("1", "true", "True"):
            answer: dict[str, Any] = {
                "interaction": {
                    "id": interaction_id,
                    "type": payload["type"],
                    "response_message_loading": kind == 5,
                    "response_message_ephemeral": ephemeral,
                },
                "resource": {"type": kind},
            }
            if message is not None and kind != 9:
                answer["interaction"]["response_message_id"] = message["id"]
                answer["resource"]["message"] = message
            return self._json(answer)
        return web.Response(status=204)

    def _pressed_message(self, interaction: _Interaction) -> dict[str, Any] | None:
        pressed = interaction.payload.get("message")
        if pressed is None:
            return None
        stored = self.messages.get(pressed["channel_id"], {}).get(pressed["id"])
        if stored is not None:
            return stored
        # An ephemeral follow-up lives with the interaction it answered.
        return next(
            (m for i in self.interactions.values() for m in i.followups if m["id"] == pressed["id"]), None
        )

    def _interaction_by_token(self, token: str) -> _Interaction | None:
        return next((i for i in self.interactions.values() if i.payload["token"] == token), None)

    def _webhook(self, method: str, p: list[str], body: Any) -> web.Response:
        webhook_id, token = p[1], p[2]
        interaction = self._interaction_by_token(token)
        if webhook_id != self.application_id or interaction is None:
            return self._error(404, 10015, "Unknown Webhook")
        if not interaction.callbacks:
            return self._error(404, 10015, "Unknown Webhook")  # followups need an answer first
        channel_id = interaction.payload["channel_id"]
        if len(p) == 3 and method == "POST":
            self._check("/webhooks/{webhook_id}/{webhook_token}", "post", body)
            problem = self._validate_content(body)
            if problem:
                return problem
            message = self._message(
                channel_id,
                self.bot_user,
                body.get("content", ""),
                components=body.get("components"),
                flags=int(body.get("flags") or 0),
                webhook_id=self.application_id,
            )
            message["allowed_mentions"] = body.get("allowed_mentions")
            interaction.followups.append(message)
            return self._json(message)
        if len(p) == 5 and p[3] == "messages":
            target_id = p[4]
            if target_id == "@original":
                # For a component press answered with type 6 the original is the pressed message.
                target = interaction.original or self._pressed_message(interaction)
            else:
                target = next((m for m in interaction.followups if m["id"] == target_id), None)
            if target is None:
                return self._error(404, 10008, "Unknown Message")
            if method == "PATCH":
                template = (
                    "/webhooks/{webhook_id}/{webhook_token}/messages/@original"
                    if target_id == "@original"
                    else "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"
                )
                self._check(template, "patch", body)
                problem = self._validate_content(body)
                if problem:
                    return problem
                self._apply_edit(target, body)
                target["flags"] = int(target.get("flags") or 0) & ~128
                return self._json(target)
            if method == "DELETE":
                if target is interaction.original:
                    interaction.original = None
                else:
                    self.messages.get(channel_id, {}).pop(target["id"], None)
                return web.Response(status=204)
            if method == "GET":
                return self._json(target)
        return self._error(404, 0, "404: Not Found")

    # -- gateway ---------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        self.gateway_connects.append(dict(request.query))
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = _Conn(ws, request, compress=request.query.get("compress") == "zlib-stream")
        self._conns.add(conn)
        try:
            await conn.send(
                {
                    "op": OP_HELLO,
                    "d": {"heartbeat_interval": self.heartbeat_interval_ms},
                    "s": None,
                    "t": None,
                }
            )
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    frame = json.loads(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    frame = json.loads(zlib.decompress(msg.data))
                else:
                    break
                self.gateway_frames.append(frame)
                await self._on_frame(conn, frame)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._conns.discard(conn)
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
                self._connected.clear()
        return ws

    async def _on_frame(self, conn: _Conn, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        data = frame.get("d")
        if op == OP_HEARTBEAT:
            await conn.send({"op": OP_HEARTBEAT_ACK, "d": None, "s": None, "t": None})
        elif op == OP_IDENTIFY:
            await self._identify(conn, data or {})
        elif op == OP_RESUME:
            await self._resume(conn, data or {})

    async def _identify(self, conn: _Conn, data: dict[str, Any]) -> None:
        if data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        intents = int(data.get("intents") or 0)
        if intents & MESSAGE_CONTENT_INTENT and not self.message_content_granted:
            await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        session = _Session(session_id=secrets.token_hex(16))
        self._sessions[session.session_id] = session
        self._current = session
        session.conn = conn
        conn.session = session
        ready = {
            "v": 10,
            "user": self.bot_user,
            "guilds": self.ready_guilds(),
            "session_id": session.session_id,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": self.application_id, "flags": self._application()["flags"]},
            "private_channels": [],
            "relationships": [],
            "user_settings": {},
            "presences": [],
            "geo_ordered_rtc_regions": [],
            "session_type": "normal",
            "auth_session_id_hash": "",
            "shard": data.get("shard", [0, 1]),
            "_trace": ["sandbox"],
        }
        await self._dispatch_to(session, "READY", ready)
        await self.send_guild_creates()
        self._connected.set()

    async def _resume(self, conn: _Conn, data: dict[str, Any]) -> None:
        session = self._sessions.get(str(data.get("session_id")))
        if data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        if session is None:
            await conn.send({"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None})
            return
        if session.conn is not None and session.conn is not conn:
            with contextlib.suppress(Exception):
                await session.conn.ws.close(code=4000)
        session.conn = conn
        conn.session = session
        self._current = session
        after = int(data.get("seq") or 0) - self.resume_overlap
        for frame in session.log:
            if frame["s"] > after:
                await conn.send(frame)
        await self._dispatch_to(session, "RESUMED", {"_trace": ["sandbox"]})
        self._connected.set()

    async def _dispatch_to(self, session: _Session, event: str, data: dict[str, Any]) -> int:
        session.seq += 1
        frame = {"op": OP_DISPATCH, "t": event, "s": session.seq, "d": data}
        if event not in ("READY", "RESUMED"):
            session.log.append(frame)  # replayed on RESUME
        if session.conn is not None:
            with contextlib.suppress(ConnectionResetError, RuntimeError):
                await session.conn.send(frame)
        return session.seq

    async def dispatch(self, event: str, data: dict[str, Any]) -> int:
        """Send an event to the current session (kept for replay if it is not connected)."""
        if self._current is None:
            raise RuntimeError("no gateway session has identified yet")
        return await self._dispatch_to(self._current, event, data)

    def drop_connection(self) -> None:
        """Switch: close the current gateway socket abruptly (no close frame); the session stays resumable."""
        session = self._current
        if session is not None and session.conn is not None:
            conn, session.conn = session.conn, None
            self._connected.clear()
            conn.drop()

    async def send_reconnect(self) -> None:
        """Op 7: ask the client to reconnect and resume."""
        if self._current and self._current.conn:
            await self._current.conn.send({"op": OP_RECONNECT, "d": None, "s": None, "t": None})

    async def invalidate_session(self, resumable: bool = False) -> None:
        """Op 9: the session is invalid; the client must identify again unless ``resumable``."""
        if self._current and self._current.conn:
            conn = self._current.conn
            if not resumable:
                self._sessions.pop(self._current.session_id, None)
            self._connected.clear()
            await conn.send({"op": OP_INVALID_SESSION, "d": resumable, "s": None, "t": None})

    # -- builders: the people's side ---------------------------------------------------------------

    async def user_dm(self, user: str, text: str, reply_to: str | None = None) -> dict[str, Any]:
        """The person writes ``text`` in their DM with the bot (optionally replying to a message)."""
        channel_id = self.dm_channel_of(user)
        reference = None
        if reply_to is not None:
            reference = {
                "type": 0,
                "message_id": reply_to,
                "channel_id": channel_id,
                "fail_if_not_exists": False,
            }
        message = self._message(channel_id, self.users[user], text, reference=reference)
        if reference is not None and reply_to in self.messages[channel_id]:
            message["referenced_message"] = self.messages[channel_id][reply_to]
        self.messages[channel_id][message["id"]] = message
        await self.dispatch("MESSAGE_CREATE", message)
        return message

    def _interaction_payload(self, user: str, kind: int, data: dict[str, Any]) -> dict[str, Any]:
        channel_id = self.dm_channel_of(user)
        return {
            "id": self.snowflake(),
            "application_id": self.application_id,
            "type": kind,
            "data": data,
            "channel": self._dm_channel_payload(channel_id),
            "channel_id": channel_id,
            "user": self.users[user],
            "token": "itoken-" + secrets.token_urlsafe(24),
            "version": 1,
            "locale": "en-US",
            "app_permissions": "562949953601536",
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"1": user},
            "context": 1,  # BOT_DM
            "attachment_size_limit": 10485760,
        }

    def open_interaction(self, user: str, kind: int, data: dict[str, Any]) -> dict[str, Any]:
        """Create an interaction (answerable over REST) without dispatching it."""
        payload = self._interaction_payload(user, kind, data)
        self.interactions[payload["id"]] = _Interaction(payload, self.interaction_clock())
        return payload

    async def _push_interaction(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.interactions[payload["id"]] = _Interaction(payload, self.interaction_clock())
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    async def user_slash(
        self,
        user: str,
        subcommand: str,
        args: str | None = None,
        command: str = "pluto",
        channel_id: str | None = None,
    ) -> dict[str, Any]:
        """The person runs ``/<command> <subcommand> [args]`` in their DM with the bot, or
        in the guild channel ``channel_id``."""
        registered = next((c for c in self.commands.get("global", []) if c["name"] == command), None)
        options: list[dict[str, Any]] = []
        if args is not None:
            options.append({"name": "args", "type": 3, "value": args})
        data = {
            "id": registered["id"] if registered else self.snowflake(),
            "name": command,
            "type": 1,
            "options": [{"name": subcommand, "type": 1, "options": options}],
        }
        payload = self._interaction_payload(user, 2, data)
        if channel_id is not None:
            payload = self.guild_interaction(payload, user, channel_id)
        return await self._push_interaction(payload)

    async def user_clicks(self, user: str, message: dict[str, Any] | str, custom_id: str) -> dict[str, Any]:
        """The person presses the button ``custom_id`` on a message (a message dict or id);
        on a message in a guild channel (an ephemeral answer there) the press comes from it."""
        channel_id = self.dm_channel_of(user)
        if isinstance(message, str):
            message = self.messages[channel_id][message]
        payload = self._interaction_payload(user, 3, {"custom_id": custom_id, "component_type": 2})
        if message["channel_id"] in self.guild_channels:
            payload = self.guild_interaction(payload, user, message["channel_id"])
        payload["message"] = self.messages.get(message["channel_id"], {}).get(message["id"], message)
        return await self._push_interaction(payload)

    async def user_submits_modal(
        self, user: str, opened_by: dict[str, Any], values: dict[str, str]
    ) -> dict[str, Any]:
        """The person submits the modal the bot opened in answer to interaction ``opened_by``.

        Fields missing from ``values`` are left empty. Raises ``ModalRefused`` where Discord's
        client would keep the modal open: a required text input (Discord's default) left
        empty, or a value shorter than ``min_length`` or longer than ``max_length``."""
        callback = self.interactions[opened_by["id"]].callbacks[0]
        modal = callback["data"]
        rows = []
        for row in modal.get("components", []):
            inner = []
            for comp in row.get("components", []) if row.get("type") == 1 else [row.get("component", row)]:
                value = values.get(comp["custom_id"], "")
                _check_text_input(comp, value)
                inner.append({"type": 4, "custom_id": comp["custom_id"], "value": value})
            rows.append({"type": 1, "components": inner})
        payload = self._interaction_payload(user, 5, {"custom_id": modal["custom_id"], "components": rows})
        if "message" in opened_by:
            payload["message"] = opened_by["message"]
        return await self._push_interaction(payload)


def _check_text_input(component: dict[str, Any], value: str) -> None:
    """What Discord's client checks before it sends a modal submission."""
    if component.get("type") != 4:
        return
    label = component.get("label") or component["custom_id"]
    if not value:
        if component.get("required", True):
            raise ModalRefused(f"{label!r} is required: Discord does not submit the modal empty")
        return
    low, high = component.get("min_length"), component.get("max_length")
    if low is not None and len(value) < int(low):
        raise ModalRefused(f"{label!r} needs at least {low} characters")
    if high is not None and len(value) > int(high):
        raise ModalRefused(f"{label!r} takes at most {high} characters")


async def _serve(args: argparse.Namespace) -> None:
    sandbox = SandboxDiscord()
    base = await sandbox.start(args.port)
    await serve_forever(
        sandbox, f"Discord sandbox: REST {sandbox.api_base}  gateway {sandbox.gateway_url}  ({base})", args.control_port
    )


def main() -> None:
    """``python -m sandbox.discord --port N``: run the sandbox until interrupted."""
    run_main("Discord stand-in on 127.0.0.1", _serve)


if __name__ == "__main__":
    main()
