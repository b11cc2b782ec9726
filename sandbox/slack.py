"""A stand-in for Slack on 127.0.0.1: the Web API, the response_url sink, Socket Mode, and
the platform side that pushes signed events, slash commands and button presses to a bot.

This module is "the outside world": it never imports the bridge. It behaves the way
reference/platforms.md section 2 describes Slack: logical errors are HTTP 200 with
``{"ok": false, "error": ...}``, rate limiting is HTTP 429 with ``Retry-After``, requests are
checked against the (stale) Swagger spec for required arguments, and everything received is
recorded for tests to assert on.

Run standalone: ``python -m sandbox.slack --port 8700``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from sandbox.kit import FaultPlan, Recorder, TokenBucket, listen, run_main, serve_forever
from sandbox.specs import SPECS_DIR

SPEC_PATH = SPECS_DIR / "slack_web_openapi_v2.json"
EVENT_SCHEMA_PATH = SPECS_DIR / "slack_event_wrapper_schema.json"

MAX_TEXT = 40_000  # Slack truncates beyond this; the sandbox refuses with msg_too_long
MAX_SECTION_TEXT = 3_000
MAX_BLOCKS = 50
LENIENT_ARGS = frozenset({"team_id", "metadata", "markdown_text", "unfurl"})  # Bolt's / newer than the spec
# Web API rate tiers (calls per minute, per method, per workspace) of the methods the sandbox
# serves; chat.postMessage has its own per-channel limit instead. auth.test ("special",
# high) and apps.connections.open (Tier 1, but Slack tolerates reconnect bursts; its exact
# allowance is unpublished) are left unlimited rather than guessed.
TIER_PER_MINUTE = {
    "chat.update": 50,
    "chat.delete": 50,
    "chat.postEphemeral": 100,
    "conversations.open": 50,
    "conversations.info": 50,
    "conversations.members": 100,  # Tier 4
    "conversations.history": 50,
    "conversations.replies": 50,
    "users.info": 100,
    "users.lookupByEmail": 50,
    "usergroups.list": 20,
}
BLOCK_TYPES = {
    "section",
    "actions",
    "input",
    "context",
    "divider",
    "header",
    "image",
    "rich_text",
    "markdown",
}


# --- the in-memory workspace model --------------------------------------------------------


@dataclass
class SlackUser:
    """A person (or bot user) in one workspace."""

    id: str
    name: str
    real_name: str = ""
    display_name: str = ""
    email: str | None = None
    is_bot: bool = False

    def to_api(self, team_id: str) -> dict[str, Any]:
        """The ``user`` object as users.info returns it."""
        profile: dict[str, Any] = {
            "real_name": self.real_name or self.name,
            "display_name": self.display_name,
            "real_name_normalized": self.real_name or self.name,
            "display_name_normalized": self.display_name,
        }
        if self.email is not None:
            profile["email"] = self.email
        return {
            "id": self.id,
            "team_id": team_id,
            "name": self.name,
            "real_name": self.real_name or self.name,
            "deleted": False,
            "is_bot": self.is_bot,
            "profile": profile,
        }


@dataclass
class SlackChannel:
    """A conversation: a DM (``D…``) between the bot and one user, or a channel (``C…``)."""

    id: str
    name: str = ""
    is_im: bool = False
    user: str | None = None  # the other party of a DM
    is_archived: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list)
    is_private: bool = False  # a private channel (``G…``-style events: channel_type "group")
    members: set[str] = field(default_factory=set)  # user ids in a channel, the bot's included

    @property
    def channel_type(self) -> str:
        """``channel_type`` as message events carry it."""
        return "im" if self.is_im else "group" if self.is_private else "channel"

    def find(self, ts: str) -> dict[str, Any] | None:
        """The message with this ts, if it exists."""
        return next((m for m in self.messages if m["ts"] == ts), None)


@dataclass
class SlackTeam:
    """One workspace with the bridge's app installed."""

    id: str
    bot_token: str
    bot_user_id: str
    bot_id: str
    name: str = ""
    users: dict[str, SlackUser] = field(default_factory=dict)
    channels: dict[str, SlackChannel] = field(default_factory=dict)
    usergroups: dict[str, str] = field(default_factory=dict)  # id -> handle
    uninstalled: bool = False
    # Bot scopes the app was installed with (None: all); chat.postMessage with ``username``
    # needs chat:write.customize, conversations.members channels:read or groups:read.
    scopes: set[str] | None = None

    def dm_for(self, user_id: str) -> SlackChannel:
        """The bot's DM channel with ``user_id``, created on first use like conversations.open."""
        for ch in self.channels.values():
            if ch.is_im and ch.user == user_id:
                return ch
        ch = SlackChannel(id=f"D{self.id[1:]}{user_id[1:]}", is_im=True, user=user_id)
        self.channels[ch.id] = ch
        return ch


@dataclass
class Recorded:
    """One request the sandbox received."""

    method: str  # HTTP verb
    path: str
    api_method: str | None  # Web API method name for /api/<method>, else None
    headers: dict[str, str]
    params: dict[str, Any]  # query + form + JSON merged
    response: dict[str, Any] | None = None
    status: int = 200
    at: float = field(default_factory=time.monotonic)  # when it arrived
    peer: Any = None  # the client's (host, port): one per TCP connection


@dataclass
class Injection:
    """A failure to serve instead of the real answer for the next ``count`` matching calls."""

    method: str
    channel: str | None
    count: int
    status: int = 429
    retry_after: int = 1
    error: str | None = None


@dataclass
class PushResult:
    """What the bot answered to one push (HTTP response, or Socket Mode ack)."""

    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    ack: dict[str, Any] | None = None

    def json(self) -> Any:
        """The answer body parsed as JSON."""
        return json.loads(self.body) if self.body else None


class _SpecChecker:
    """Required-argument checks from the Swagger 2.0 spec (stale: nothing more is trusted)."""

    def __init__(self, path: Path) -> None:
        self.required: dict[str, set[str]] = {}
        self.known: dict[str, set[str]] = {}
        if not path.exists():
            return
        spec = json.loads(path.read_text())
        for api_path, ops in spec.get("paths", {}).items():
            names: set[str] = set()
            known: set[str] = set()
            for op in ops.values():
                for p in op.get("parameters", []):
                    known.add(p["name"])
                    # the SDK sends the token as a header, never as a parameter
                    if p.get("required") and p["name"] != "token":
                        names.add(p["name"])
            self.required[api_path.lstrip("/")] = names
            self.known[api_path.lstrip("/")] = known

    def missing(self, method: str, params: Mapping[str, Any]) -> list[str]:
        """Required arguments of ``method`` absent from ``params``."""
        return sorted(n for n in self.required.get(method, set()) if params.get(n) in (None, ""))

    def unknown(self, method: str, params: Mapping[str, Any]) -> list[str]:
        """Arguments the spec does not know for ``method`` (beyond the SDK's and newer
        Slack's harmless extras); empty for methods the stale spec lacks."""
        if method not in self.known:
            return []
        return sorted(n for n in params if n not in self.known[method] and n not in LENIENT_ARGS)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 request signature, computed here independently of slack_sdk."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def escape_typed(text: str) -> str:
    """What Slack puts on the wire for text a person typed: only & < > are escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SandboxSlack:
    """Fake Slack: Web API at ``/api/<method>``, ``/respond/<id>``, Socket Mode at ``/socket``.

    ``strict`` rejects arguments the Swagger spec does not know (catching typos in what
    our code sends). ``enforce_limits`` switches the rate limits on or off: chat.postMessage
    per channel (``post_rate`` per second, ``post_burst`` at once) and the other methods'
    tiers per workspace (``tier_per_minute``, from ``TIER_PER_MINUTE``). ``bridge_url`` is
    where HTTP-mode pushes go; ``push_mode`` ("http" or "socket") selects how the
    platform-side helpers deliver.
    """

    def __init__(
        self,
        *,
        signing_secret: str = "sandbox-signing-secret",
        app_token: str = "xapp-1-sandbox",
        api_app_id: str = "A0PLUTO",
        enforce_limits: bool = True,
        post_rate: float = 1.0,
        post_burst: int = 3,
        spec_path: Path = SPEC_PATH,
        strict: bool = True,
    ) -> None:
        self.signing_secret = signing_secret
        self.app_token = app_token
        self.api_app_id = api_app_id
        self.enforce_limits = enforce_limits
        self.strict = strict
        self.post_rate = post_rate
        self.post_burst = post_burst
        self.tier_per_minute = dict(TIER_PER_MINUTE)  # per method; tests may tighten one
        self.teams: dict[str, SlackTeam] = {}
        self.requests: Recorder[Recorded] = Recorder()
        self.responses: dict[str, list[dict[str, Any]]] = {}  # response_url id -> bodies
        self.response_stamps: dict[str, list[str]] = {}  # response_url id -> a ts per body (when shown)
        self._origins: dict[str, tuple[str, str]] = {}  # response_url id -> pressed (channel, ts)
        self.ephemerals: list[dict[str, Any]] = []
        self.socket_acks: list[dict[str, Any]] = []
        self.pushes: list[tuple[str, dict[str, Any], PushResult]] = []  # (kind, payload, answer)
        self.socket_connections = 0
        self.bridge_url: str | None = None
        self.push_mode = "http"
        self._spec = _SpecChecker(spec_path)
        self._faults: FaultPlan[Injection] = FaultPlan()
        self._buckets: dict[str, TokenBucket] = {}
        self._last_ts = 0.0
        self.answer_delay: dict[str, float] = {}  # method -> seconds its answer is held back
        self._tickets: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._socket_ready = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.base_url = ""

    # --- model setup ---------------------------------------------------------------------

    def add_team(
        self, team_id: str, bot_token: str, *, bot_user_id: str | None = None, name: str = ""
    ) -> SlackTeam:
        """Install the app in a workspace with its own bot token and bot user."""
        bot_user = bot_user_id or f"UB{team_id[1:]}"
        team = SlackTeam(
            id=team_id,
            bot_token=bot_token,
            bot_user_id=bot_user,
            bot_id=f"B{team_id[1:]}",
            name=name or team_id,
        )
        team.users[bot_user] = SlackUser(id=bot_user, name="pluto", real_name="Pluto", is_bot=True)
        self.teams[team_id] = team
        return team

    def add_user(
        self,
        team_id: str,
        user_id: str,
        name: str,
        *,
        display_name: str = "",
        real_name: str = "",
        email: str | None = None,
    ) -> SlackUser:
        """Add a person to a workspace."""
        user = SlackUser(id=user_id, name=name, real_name=real_name, display_name=display_name, email=email)
        self.teams[team_id].users[user_id] = user
        return user

    def add_channel(
        self,
        team_id: str,
        channel_id: str,
        name: str,
        *,
        private: bool = False,
        members: Sequence[str] = (),
        bot_member: bool = True,
    ) -> SlackChannel:
        """Add a channel (public, or ``private``) with its ``members``; the bot is in it
        unless ``bot_member`` is False (then posting there answers ``not_in_channel``)."""
        team = self.teams[team_id]
        ch = SlackChannel(id=channel_id, name=name, is_private=private, members=set(members))
        if bot_member:
            ch.members.add(team.bot_user_id)
        team.channels[channel_id] = ch
        return ch

    def channel_message(
        self,
        team_id: str,
        channel_id: str,
        user_id: str,
        text: str,
        *,
        thread_ts: str | None = None,
        typed: bool = True,
    ) -> dict[str, Any]:
        """A person writes in a channel (joining it if need be): stores the message and
        returns the ``message`` event (``message.channels`` or ``message.groups``)."""
        ch = self.channel(channel_id)
        ch.members.add(user_id)
        msg: dict[str, Any] = {
            "type": "message",
            "user": user_id,
            "text": escape_typed(text) if typed else text,
            "ts": self._next_ts(),
            "team": team_id,
            "channel": ch.id,
            "channel_type": ch.channel_type,
        }
        if thread_ts:
            msg["thread_ts"] = thread_ts
        ch.messages.append(dict(msg))
        return msg

    def channel_edit(self, team_id: str, channel_id: str, ts: str, text: str) -> dict[str, Any]:
        """A person edits their message: the ``message_changed`` event."""
        ch = self.channel(channel_id)
        original = ch.find(ts)
        assert original is not None, f"no message {ts} in {channel_id}"
        previous = dict(original)
        original["text"] = escape_typed(text)
        original["edited"] = {"user": original.get("user"), "ts": self._next_ts()}
        return {
            "type": "message",
            "subtype": "message_changed",
            "hidden": True,
            "channel": ch.id,
            "channel_type": ch.channel_type,
            "ts": self._next_ts(),
            "message": dict(original),
            "previous_message": previous,
        }

    def member_joined(self, team_id: str, channel_id: str, user_id: str) -> dict[str, Any]:
        """``user_id`` joins (the bot: is invited to) the channel: ``member_joined_channel``."""
        return self._membership(team_id, channel_id, user_id, joined=True)

    def member_left(self, team_id: str, channel_id: str, user_id: str) -> dict[str, Any]:
        """``user_id`` leaves (the bot: is removed from) the channel: ``member_left_channel``."""
        return self._membership(team_id, channel_id, user_id, joined=False)

    def _membership(self, team_id: str, channel_id: str, user_id: str, *, joined: bool) -> dict[str, Any]:
        ch = self.channel(channel_id)
        (ch.members.add if joined else ch.members.discard)(user_id)
        return {
            "type": "member_joined_channel" if joined else "member_left_channel",
            "user": user_id,
            "channel": ch.id,
            "channel_type": "G" if ch.is_private else "C",
            "team": team_id,
        }

    def archive(self, team_id: str, channel_id: str, user_id: str, archived: bool = True) -> dict[str, Any]:
        """Someone archives (or unarchives) the channel: ``channel_archive`` / ``channel_unarchive``."""
        ch = self.channel(channel_id)
        ch.is_archived = archived
        kind = ("group" if ch.is_private else "channel") + ("_archive" if archived else "_unarchive")
        return {"type": kind, "channel": ch.id, "user": user_id}

    def add_usergroup(self, team_id: str, group_id: str, handle: str) -> None:
        """Add a user group (``@handle``, mentioned as ``<!subteam^ID>``) to a workspace."""
        self.teams[team_id].usergroups[group_id] = handle

    def dm(self, team_id: str, user_id: str) -> SlackChannel:
        """The bot's DM channel with a user (opened if needed)."""
        return self.teams[team_id].dm_for(user_id)

    def channel(self, channel_id: str) -> SlackChannel:
        """A channel by id, in whichever workspace holds it."""
        for team in self.teams.values():
            if channel_id in team.channels:
                return team.channels[channel_id]
        raise KeyError(channel_id)

    def api_calls(self, api_method: str) -> list[Recorded]:
        """Recorded Web API calls of one method, oldest first."""
        return [r for r in self.requests if r.api_method == api_method]

    def inject(
        self,
        method: str = "chat.postMessage",
        *,
        channel: str | None = None,
        count: int = 1,
        status: int = 429,
        retry_after: int = 1,
        error: str | None = None,
    ) -> None:
        """Fail the next ``count`` calls of ``method`` (optionally only to ``channel``): HTTP
        429 with Retry-After, another HTTP status (5xx, 403), or with ``error`` an HTTP 200
        ``{"ok": false, "error": error}``."""
        self._faults.add(Injection(method, channel, count, status, retry_after, error))

    def delay_answers(self, method: str, seconds: float) -> None:
        """Do ``method``'s work at once but answer ``seconds`` later (a slow Slack: the
        message is posted even if the client gives up or dies waiting)."""
        self.answer_delay[method] = seconds

    def clear_injections(self) -> None:
        """Drop every injected failure not served yet: the platform recovers."""
        self._faults.clear()

    def rate_limited(self) -> list[Recorded]:
        """Every request the sandbox answered with HTTP 429, oldest first."""
        return [r for r in self.requests if r.status == 429]

    def _next_ts(self) -> str:
        """Slack's ts: the Unix time of the message, microseconds, unique in the workspace."""
        self._last_ts = max(time.time(), self._last_ts + 0.000001)
        return f"{self._last_ts:.6f}"

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self, port: int = 0) -> str:
        """Serve on 127.0.0.1 and return the base URL (``http://127.0.0.1:P``)."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/respond/{rid}", self._respond)
        app.router.add_get("/socket", self._socket)
        self._runner, self.base_url = await listen(app, port)
        self._session = aiohttp.ClientSession()
        return self.base_url

    @property
    def api_url(self) -> str:
        """What to give slack_sdk as ``base_url`` (trailing slash included)."""
        return f"{self.base_url}/api/"

    async def stop(self) -> None:
        """Close websockets, the push client and the server; safe twice."""
        for ws in list(self._sockets):
            await ws.close()
        self._sockets.clear()
        for fut in self._acks.values():
            fut.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- Web API -------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        raw = await request.read()
        if raw:
            ctype = request.content_type
            if ctype == "application/json":
                body = json.loads(raw)
                if isinstance(body, dict):
                    params.update(body)
            else:
                form = await request.post()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
        for key in ("blocks", "attachments"):
            if isinstance(params.get(key), str):  # form encoding sends these as JSON strings
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(params[key])
        return params

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        rec = Recorded(request.method, request.path, method, dict(request.headers), params)
        rec.peer = request.transport.get_extra_info("peername") if request.transport else None
        self.requests.append(rec)
        status, body, headers = self._handle(method, request.headers.get("Authorization", ""), params)
        rec.status, rec.response = status, body
        if self.answer_delay.get(method):
            await asyncio.sleep(self.answer_delay[method])
        return web.json_response(body, status=status, headers=headers)

    def _handle(
        self, method: str, auth: str, params: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        token = auth[7:] if auth.startswith("Bearer ") else params.get("token", "")
        if not token:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if method == "apps.connections.open":
            if token != self.app_token:
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            ticket = uuid.uuid4().hex
            self._tickets.add(ticket)
            ws_url = self.base_url.replace("http://", "ws://") + f"/socket?ticket={ticket}"
            return 200, {"ok": True, "url": ws_url}, {}
        team = next((t for t in self.teams.values() if t.bot_token == token), None)
        if team is None:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        if team.uninstalled:
            return 200, {"ok": False, "error": "account_inactive"}, {}
        missing = self._spec.missing(method, params)
        if missing:
            return 200, {"ok": False, "error": "invalid_arguments", "missing": missing}, {}
        unknown = self._spec.unknown(method, params) if self.strict else []
        if unknown:
            return 200, {"ok": False, "error": "invalid_arguments", "unknown": unknown}, {}
        injected = self._injected(method, params.get("channel"))
        if injected is not None:
            return injected
        if self.enforce_limits and method in self.tier_per_minute:
            per_minute = self.tier_per_minute[method]
            # a minute's allowance may go at once ("bursts welcome"), then it refills evenly
            bucket = self._buckets.setdefault(f"{team.id}:{method}", TokenBucket(per_minute, per_minute / 60))
            wait = bucket.acquire()
            if wait > 0:
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(max(1, math.ceil(wait)))}
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        result: tuple[int, dict[str, Any], dict[str, str]] | dict[str, Any] = handler(team, params)
        if isinstance(result, tuple):
            return result
        return 200, result, {}

    def _injected(self, method: str, channel: Any) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        inj = self._faults.take(lambda f: f.method == method and (f.channel is None or f.channel == channel))
        if inj is None:
            return None
        if inj.error is not None:
            return 200, {"ok": False, "error": inj.error}, {}
        if inj.status == 429:
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(inj.retry_after)}
        return inj.status, {"ok": False, "error": f"http_{inj.status}"}, {}

    @staticmethod
    def _check_blocks(blocks: Any) -> str | None:
        """Reject block payloads Slack would reject; returns the error or None."""
        if blocks is None:
            return None
        if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
            return "invalid_blocks"
        action_ids: set[str] = set()
        for block in blocks:
            if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
                return "invalid_blocks"
            text = block.get("text")
            if block["type"] == "section":
                if not isinstance(text, dict) or text.get("type") not in ("mrkdwn", "plain_text"):
                    return "invalid_blocks"
                if not 1 <= len(text.get("text", "")) <= MAX_SECTION_TEXT:
                    return "invalid_blocks"
            if block["type"] == "actions":
                elements = block.get("elements")
                if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
                    return "invalid_blocks"
                for el in elements:
                    label = el.get("text", {})
                    if el.get("type") != "button" or label.get("type") != "plain_text":
                        return "invalid_blocks"
                    if not 1 <= len(label.get("text", "")) <= 75 or el.get("style") not in (
                        None,
                        "primary",
                        "danger",
                    ):
                        return "invalid_blocks"
                    aid = el.get("action_id", "")
                    if not 1 <= len(aid) <= 255 or aid in action_ids:
                        return "invalid_blocks"
                    action_ids.add(aid)
            if block["type"] == "input":
                if not isinstance(block.get("element"), dict) or not isinstance(block.get("label"), dict):
                    return "invalid_blocks"
        return None

    def _channel_of(self, team: SlackTeam, params: Mapping[str, Any]) -> SlackChannel | dict[str, Any]:
        ch = team.channels.get(str(params.get("channel", "")))
        if ch is None:
            return {"ok": False, "error": "channel_not_found"}
        return ch

    def _m_auth_test(self, team: SlackTeam, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"https://{team.name}.slack.com/",
            "team": team.name,
            "user": "pluto",
            "team_id": team.id,
            "user_id": team.bot_user_id,
            "bot_id": team.bot_id,
            "is_enterprise_install": False,
        }

    def _m_chat_postMessage(self, team: SlackTeam, params: dict[str, Any]) -> Any:
        ch = self._channel_of(team, params)
        if isinstance(ch, dict):
            return ch
        if ch.is_archived:
            return {"ok": False, "error": "is_archived"}
        if not ch.is_im and team.bot_user_id not in ch.members:
            return {"ok": False, "error": "not_in_channel"}
        if params.get("username") and not self._has_scope(team, "chat:write.customize"):
            return {"ok": False, "error": "missing_scope", "needed": "chat:write.customize"}
        text = params.get("text")
        blocks = params.get("blocks")
        if not text and not blocks:
            return {"ok": False, "error": "no_text"}
        if text and len(text) > MAX_TEXT:
            return {"ok": False, "error": "msg_too_long"}
        err = self._check_blocks(blocks)
        if err:
            return {"ok": False, "error": err}
        thread_ts = params.get("thread_ts")
        if thread_ts and ch.find(str(thread_ts)) is None:
            return {"ok": False, "error": "thread_not_found"}
        if self.enforce_limits:
            wait = self._buckets.setdefault(ch.id, TokenBucket(self.post_burst, self.post_rate)).acquire()
            if wait > 0:
                return (
                    429,
                    {"ok": False, "error": "ratelimited"},
                    {"Retry-After": str(max(1, math.ceil(wait)))},
                )
        msg: dict[str, Any] = {
            "type": "message",
            "ts": self._next_ts(),
            "user": team.bot_user_id,
            "bot_id": team.bot_id,
            "text": text or "",
            "team": team.id,
        }
        if blocks:
            msg["blocks"] = blocks
        if thread_ts:
            msg["thread_ts"] = str(thread_ts)
        if params.get("username"):
            msg["username"] = str(params["username"])  # shown as the sender (chat:write.customize)
        ch.messages.append(msg)
        return {"ok": True, "channel": ch.id, "ts": msg["ts"], "message": msg}

    @staticmethod
    def _window(messages: list[dict[str, Any]], params: Mapping[str, Any]) -> dict[str, Any]:
        """``messages`` between ``oldest`` and ``latest`` (exclusive unless ``inclusive``),
        newest first, at most ``limit`` (default 100), as history and replies answer."""
        oldest, latest = float(params.get("oldest") or 0), float(params.get("latest") or math.inf)
        inclusive = str(params.get("inclusive", "")).lower() in ("1", "true")

        def within(ts: float) -> bool:
            return oldest <= ts <= latest if inclusive else oldest < ts < latest

        chosen = [m for m in messages if within(float(m["ts"]))]
        chosen.sort(key=lambda m: float(m["ts"]), reverse=True)
        limit = int(params.get("limit") or 100)
        return {"ok": True, "messages": chosen[:limit], "has_more": len(chosen) > limit}

    def _m_conversations_history(self, team: SlackTeam, params: dict[str, Any]) -> dict[str, Any]:
        """Top-level messages of a conversation (thread replies are not listed, as in Slack)."""
        ch = self._channel_of(team, params)
        if isinstance(ch, dict):
            return ch
        top = [m for m in ch.messages if not m.get("thread_ts") or m.get("thread_ts") == m["ts"]]
        return self._window(top, params)

    def _m_conversations_replies(self, team: SlackTeam, params: dict[str, Any]) -> dict[str, Any]:
        """A thread: its parent and replies, oldest first as Slack lists them."""
        ch = self._channel_of(team, params)
        if isinstance(ch, dict):
            return ch
        parent = ch.find(str(params.get("ts") or ""))
        if parent is None:
            return {"ok": False, "error": "thread_not_found"}
        thread = [m for m in ch.messages if m["ts"] == parent["ts"] or m.get("thread_ts") == parent["ts"]]
        answer = self._window(thread, params)
        answer["messages"].reverse()
        return answer

    def _m_chat_update(self, team: SlackTeam, params: dict[str, Any]) -> dict[str, Any]:
        ch = self._channel_of(team, params)
        if isinstance(ch, dict):
            return ch
        msg = ch.find(str(params.get("ts")))
        if msg is None:
            return {"ok": False, "error": "message_not_found"}
        if msg.get("user") != team.bot_user_id:
            return {"ok": False, "error": "cant_update_message"}
        text = params.get("text")
        if text and len(text) > MAX_TEXT:
            return {"ok": False, "error": "msg_too_long"}
        err = self._check_blocks(params.get("blocks"))
        if err:
            return {"ok": False, "error": err}
        if text is not None:
            msg["text"] = text
        if "blocks" in params:
            msg["blocks"] = params["blocks"] or []
        msg["edited"] = {"user": team.bot_user_id, "ts": self._next_ts()}
        return {"ok": True, "channel": ch.id, "ts": msg["ts"], "text": msg["text"], "message": msg}

    def _m_chat_delete(self, team: SlackTeam, params: dict[str, Any]) -> dict[str, Any]:
        ch = self._channel_of(team, params)
        if isinstance(ch, dict):
            return ch
        msg = ch.find(str(params.get("ts")))
        if msg is None:
            return {"ok": False, "error": "message_not_found"}
        if msg.get("user") != team.bot_user_id:
            return {"ok": False, "error": "cant_delete_message"}
        ch.messages.remove(msg)
        return {"ok": True, "channel": ch.id, "ts": msg["ts"]}

    def _m_chat_postEphemeral(self, team: SlackTeam, params: dict[str, Any]) -> dict[str, Any]:
        ch = self._channel_of(team, params)
        if isinstance(ch, dict):
            return ch
        if params["user"] not in team.users:
            return {"ok": False, "error": "user_not_found"}
        if (ch.is_im and ch.user != params["user"]) or (not ch.is_im and params["user"] not in ch.members):
            return {"ok": False, "error": "user_not_in_channel"}
        if not ch.is_im and team.bot_user_id not in ch.members:
            return {"ok": False, "error": "not_in_channel"}
        ts = self._next_ts()
        shown = {"channel": ch.id, "user": params["user"], "text": params.get("text"), "ts": ts}
        if params.get("blocks"):
            shown["blocks"] = params["blocks"]
        self.ephemerals.append(shown)
        return {"ok": True, "message_ts": ts}

    def _m_conversations_open(self, team: SlackTeam, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("channel"):
            ch = self._channel_of(team, params)
            if isinstance(ch, dict):
                return ch
        else:
            users = [u for u in str(params.get("users", "")).split(",") if u]
            if len(users) != 1:
                return {"ok": False, "error": "users_list_not_supplied" if not users else "not_supported"}
            user = team.users.get(users[0])
            if user is None:
                return {"ok": False, "error": "user_not_found"}
            if user.is_bot:
                return {"ok": False, "error": "cannot_dm_bot"}
            ch = team.dm_for(user.id)
        return {"ok": True, "channel": {"id": ch.id}}

    def _m_conversations_info(self, team: SlackTeam, params: dict[str, Any]) -> dict[str, Any]:
        ch = self._channel_of(team, params)
        if isinstance(ch, dict):
            return ch
        info: dict[str, Any] = {"id": ch.id, "is_im": ch.is_im, "is_archived": ch.is_archived}
        if ch.is_im:
            info["user"] = ch.user
        else:
            info.update({"name": ch.name, "is_channel": not ch.is_private, "is_private": ch.is_private})
            info["is_member"] = team.bot_user_id in ch.members
        return {"ok": True, "channel": info}

    def _m_conversations_members(self, team: SlackTeam, params: dict[str, Any]) -> dict[str, Any]:
        ch = self._channel_of(team, params)
        if isinstance(ch, dict):
            return ch
        needed = "groups:read" if ch.is_private else "channels:read"
        if not self._has_scope(team, needed):
            return {"ok": False, "error": "missing_scope", "needed": needed}
        if ch.is_private and team.bot_user_id not in ch.members:
            return {"ok": False, "error": "channel_not_found"}  # a private channel the bot left: invisible
        return {"ok": True, "members": sorted(ch.members), "response_metadata": {"next_cursor": ""}}

    @staticmethod
    def _has_scope(team: SlackTeam, scope: str) -> bool:
        return team.scopes is None or scope in team.scopes

    def _m_users_info(self, team: SlackTeam, params: dict[str, Any]) -> dict[str, Any]:
        user = team.users.get(str(params.get("user", "")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user.to_api(team.id)}

    def _m_usergroups_list(self, team: SlackTeam, params: dict[str, Any]) -> dict[str, Any]:
        groups = [
            {"id": gid, "team_id": team.id, "handle": handle, "name": handle.title()}
            for gid, handle in team.usergroups.items()
        ]
        return {"ok": True, "usergroups": groups}

    def _m_users_lookupByEmail(self, team: SlackTeam, params: dict[str, Any]) -> dict[str, Any]:
        email = str(params["email"]).lower()
        user = next((u for u in team.users.values() if u.email and u.email.lower() == email), None)
        if user is None:
            return {"ok": False, "error": "users_not_found"}
        return {"ok": True, "user": user.to_api(team.id)}

    async def _respond(self, request: web.Request) -> web.Response:
        """A response_url post: recorded; ``replace_original`` / ``delete_original`` change
        the message whose button was pressed, as Slack does (a slash command has none)."""
        rid = request.match_info["rid"]
        body = await request.json()
        self.requests.append(Recorded(request.method, request.path, None, dict(request.headers), body))
        if rid not in self.responses:
            return web.Response(status=404, text="no_such_response_url")
        self.responses[rid].append(body)
        self.response_stamps.setdefault(rid, []).append(self._next_ts())  # where the person's client shows it
        origin = self._origins.get(rid)
        channel = self.channel(origin[0]) if origin else None
        msg = channel.find(origin[1]) if channel and origin else None
        if body.get("delete_original") in (True, "true"):
            if channel is None or msg is None:
                return web.Response(status=404, text="message_not_found")
            channel.messages.remove(msg)
        elif body.get("replace_original") in (True, "true"):
            if msg is None:
                return web.Response(status=404, text="message_not_found")
            if self._check_blocks(body.get("blocks")) or not (body.get("text") or body.get("blocks")):
                return web.Response(status=400, text="invalid_blocks")
            msg["text"] = body.get("text") or ""
            msg["blocks"] = body.get("blocks") or []
        return web.Response(text="ok")

    # --- Socket Mode ---------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        self.socket_connections += 1
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets),
                "debug_info": {"host": "sandbox"},
                "connection_info": {"app_id": self.api_app_id},
            }
        )
        self._socket_ready.set()
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                self.socket_acks.append(data)
                fut = self._acks.pop(str(data.get("envelope_id")), None)
                if fut is not None and not fut.done():
                    fut.set_result(data)
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
            if not self._sockets:
                self._socket_ready.clear()
        return ws

    async def wait_socket(self) -> None:
        """Wait until a Socket Mode client is connected."""
        await asyncio.wait_for(self._socket_ready.wait(), 10)

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask connected clients to reconnect, as Slack does before rotating a connection."""
        for ws in list(self._sockets):
            await ws.send_json({"type": "disconnect", "reason": reason, "debug_info": {"host": "sandbox"}})

    async def _send_envelope(
        self, kind: str, payload: dict[str, Any], *, retry_attempt: int = 0, retry_reason: str = ""
    ) -> PushResult:
        await self.wait_socket()
        envelope_id = str(uuid.uuid4())
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = fut
        await self._sockets[-1].send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": kind != "events_api",
                "retry_attempt": retry_attempt,
                "retry_reason": retry_reason,
            }
        )
        ack = await asyncio.wait_for(fut, 3)  # Slack's ack deadline
        return PushResult(200, json.dumps(ack.get("payload", {})), ack=ack)

    # --- platform side: pushes to the bot ------------------------------------------------

    async def _post_signed(
        self,
        body: bytes,
        content_type: str,
        *,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        bad_signature: bool = False,
        stale: bool = False,
    ) -> PushResult:
        if self.bridge_url is None or self._session is None:
            raise RuntimeError("set bridge_url (and start the sandbox) before pushing over HTTP")
        stamp = str(int(time.time()) - (600 if stale else 0))
        secret = "not-the-secret" if bad_signature else self.signing_secret
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": sign(secret, stamp, body),
        }
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason
        async with self._session.post(self.bridge_url, data=body, headers=headers) as resp:
            return PushResult(resp.status, await resp.text(), dict(resp.headers))

    def _team_bot(self, team_id: str) -> SlackTeam:
        return self.teams[team_id]

    def event_envelope(
        self, team_id: str, event: dict[str, Any], *, event_id: str | None = None
    ) -> dict[str, Any]:
        """The event_callback wrapper Slack puts around an event."""
        team = self._team_bot(team_id)
        event = {"event_ts": event.get("ts", self._next_ts()), **event}
        return {
            "token": "legacy-verification-token",
            "team_id": team_id,
            "api_app_id": self.api_app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": int(time.time()),
            "authed_users": [team.bot_user_id],  # deprecated by Slack but still required by its schema
            "authorizations": [
                {"enterprise_id": None, "team_id": team_id, "user_id": team.bot_user_id, "is_bot": True}
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{uuid.uuid4().hex}",
        }

    async def sign_and_post_event(
        self,
        team_id: str,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        bad_signature: bool = False,
        stale: bool = False,
    ) -> tuple[str, PushResult]:
        """Deliver an Events API event (HTTP, signed; or a Socket Mode envelope when
        ``push_mode == "socket"``). Pass the same ``event_id`` with ``retry_num`` for a
        redelivery. Returns the event_id used and the bot's answer."""
        envelope = self.event_envelope(team_id, event, event_id=event_id)
        if self.push_mode == "socket":
            result = await self._send_envelope(
                "events_api",
                envelope,
                retry_attempt=retry_num or 0,
                retry_reason=retry_reason if retry_num else "",
            )
        else:
            result = await self._post_signed(
                json.dumps(envelope).encode(),
                "application/json",
                retry_num=retry_num,
                retry_reason=retry_reason,
                bad_signature=bad_signature,
                stale=stale,
            )
        self.pushes.append(("events_api", envelope, result))
        return envelope["event_id"], result

    async def url_verification(self, challenge: str = "sandbox-challenge") -> PushResult:
        """The signed ``url_verification`` request Slack sends when a Request URL is saved."""
        body = {"token": "legacy-verification-token", "challenge": challenge, "type": "url_verification"}
        return await self._post_signed(json.dumps(body).encode(), "application/json")

    def user_message(
        self, team_id: str, user_id: str, text: str, *, typed: bool = True, thread_ts: str | None = None
    ) -> dict[str, Any]:
        """A person writes in their DM with the bot: stores the message and returns the
        ``message`` event. ``typed`` escapes & < > the way Slack does for typed text; pass
        ``typed=False`` to give wire text with real mentions/links (``<@U1>``)."""
        ch = self.dm(team_id, user_id)
        wire = escape_typed(text) if typed else text
        msg: dict[str, Any] = {
            "type": "message",
            "user": user_id,
            "text": wire,
            "ts": self._next_ts(),
            "team": team_id,
            "channel": ch.id,
            "channel_type": "im",
        }
        if thread_ts:
            msg["thread_ts"] = thread_ts
        ch.messages.append(dict(msg))
        return msg

    def bot_echo(self, team_id: str, channel_id: str, ts: str) -> dict[str, Any]:
        """The ``message`` event Slack sends back for the bot's own post."""
        msg = dict(self.channel(channel_id).find(ts) or {})
        msg.update({"channel": channel_id, "channel_type": "im"})
        return msg

    def app_home_opened(self, team_id: str, user_id: str, tab: str = "messages") -> dict[str, Any]:
        """The ``app_home_opened`` event for a person opening the app's DM."""
        return {
            "type": "app_home_opened",
            "user": user_id,
            "channel": self.dm(team_id, user_id).id,
            "tab": tab,
        }

    def _response_url(self, origin: tuple[str, str] | None = None) -> tuple[str, str]:
        """A new response_url; ``origin`` (channel, ts) is the message it may replace."""
        rid = uuid.uuid4().hex
        self.responses.setdefault(rid, [])
        if origin is not None:
            self._origins[rid] = origin
        return rid, f"{self.base_url}/respond/{rid}"

    async def post_slash_command(
        self,
        team_id: str,
        user_id: str,
        text: str,
        *,
        command: str = "/pluto",
        channel_id: str | None = None,
        bad_signature: bool = False,
        stale: bool = False,
    ) -> tuple[str, PushResult]:
        """A person runs a slash command (in their DM with the bot unless ``channel_id``).
        Returns the response_url id (see ``responses``) and the bot's answer."""
        team = self._team_bot(team_id)
        user = team.users[user_id]
        channel = channel_id or self.dm(team_id, user_id).id
        rid, url = self._response_url()
        ch = team.channels.get(channel)
        form = {
            "token": "legacy-verification-token",
            "team_id": team_id,
            "team_domain": team.name,
            "channel_id": channel,
            "channel_name": "directmessage" if ch is None or ch.is_im else ch.name,
            "user_id": user_id,
            "user_name": user.name,
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": url,
            "trigger_id": f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:16]}",
        }
        if self.push_mode == "socket":
            result = await self._send_envelope("slash_commands", form)
        else:
            body = urlencode(form).encode()
            result = await self._post_signed(
                body, "application/x-www-form-urlencoded", bad_signature=bad_signature, stale=stale
            )
        self.pushes.append(("slash_commands", form, result))
        return rid, result

    async def post_block_action(
        self,
        team_id: str,
        user_id: str,
        channel_id: str,
        message_ts: str,
        action_id: str,
        *,
        inputs: Mapping[str, str] | None = None,
        bad_signature: bool = False,
        ephemeral: Mapping[str, Any] | None = None,
    ) -> tuple[str, PushResult]:
        """A person presses the button ``action_id`` on a stored message, or on the
        ``ephemeral`` message only they were shown (a response_url answer or a
        chat.postEphemeral, as recorded in ``responses`` / ``ephemerals``). ``inputs`` maps
        an input block's action_id to what the person typed there. Returns the response_url
        id and the bot's answer."""
        team = self._team_bot(team_id)
        user = team.users[user_id]
        msg = dict(ephemeral) if ephemeral is not None else self.channel(channel_id).find(message_ts)
        if msg is None:
            raise KeyError(f"no message {message_ts} in {channel_id}")
        button: dict[str, Any] = {}
        block_id = ""
        state: dict[str, dict[str, Any]] = {}
        for block in msg.get("blocks", []):
            for el in block.get("elements", []):
                if el.get("action_id") == action_id:
                    button, block_id = el, block.get("block_id", "")
            el = block.get("element") or {}
            if block.get("type") == "input" and el.get("type") == "plain_text_input":
                typed = (inputs or {}).get(el["action_id"])
                state.setdefault(block["block_id"], {})[el["action_id"]] = {
                    "type": "plain_text_input",
                    "value": typed,
                }
        if not button:
            raise KeyError(f"no button {action_id} on message {message_ts}")
        rid, url = self._response_url((channel_id, message_ts))
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user_id, "username": user.name, "name": user.name, "team_id": team_id},
            "api_app_id": self.api_app_id,
            "token": "legacy-verification-token",
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel_id,
                "is_ephemeral": ephemeral is not None,
            },
            "trigger_id": f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:16]}",
            "team": {"id": team_id, "domain": team.name},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel_id, "name": "directmessage"},
            "message": msg,
            "state": {"values": state},
            "response_url": url,
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": block_id,
                    "text": button.get("text"),
                    "value": button.get("value"),
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        if self.push_mode == "socket":
            result = await self._send_envelope("interactive", payload)
        else:
            body = urlencode({"payload": json.dumps(payload)}).encode()
            result = await self._post_signed(
                body, "application/x-www-form-urlencoded", bad_signature=bad_signature
            )
        self.pushes.append(("interactive", payload, result))
        return rid, result


async def _serve(args: argparse.Namespace) -> None:
    sandbox = SandboxSlack()
    sandbox.add_team("T0SANDBOX", "xoxb-sandbox")
    sandbox.add_user("T0SANDBOX", "U0SAM", "sam", real_name="Sam Example", email="sam@example.org")
    url = await sandbox.start(args.port)
    await serve_forever(
        sandbox,
        f"sandbox Slack at {url}/api/ (team T0SANDBOX, bot token xoxb-sandbox, app token {sandbox.app_token})",
        args.control_port,
    )


def main() -> None:
    """Run the sandbox standalone until interrupted."""
    run_main("Fake Slack on 127.0.0.1", _serve)


if __name__ == "__main__":
    main()
