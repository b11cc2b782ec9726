"""Slack adapter on slack-bolt (AsyncApp): Events API over HTTP or Socket Mode, one slash
command with subcommands, Block Kit buttons, several workspaces at once.

Inbound, Bolt verifies signatures (HTTP mode) and runs our listeners, which translate DM
messages, app-home opens, the slash command and button presses into ``bridge.model`` events
and hand them to the core's runner as ``Interaction`` values. The runner journals each one
before Slack is acknowledged (a DM's 200 or Socket Mode ack, a command's or a press's
``ack()``), within Slack's 3 s, so a crash before that makes Slack deliver it again. Outbound, each workspace has its
own ``AsyncWebClient`` (its own bot token); Slack errors become ``bridge.ports`` exceptions
and 429s are never retried here: the core pauses the room and retries.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Literal, cast
from urllib.parse import parse_qs

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app, send_async_response
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.readable import readable_time
from bridge.inbound.interaction import Interaction
from bridge.inbound.runner import Place, Runner
from bridge.model import (
    COMMANDS,
    Action,
    ActionEvent,
    Capabilities,
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
from bridge.render.slack import escape_mrkdwn

log = logging.getLogger(__name__)

REASON_BLOCK = "pluto_reason"
REASON_INPUT = "reason"
LINK_VALUE = "pluto:link"  # value of URL buttons: Slack reports their clicks, we ignore them
MAX_SECTION_TEXT = 3000
MAX_BUTTON_LABEL = 75

UNREACHABLE_ERRORS = frozenset(
    {
        "channel_not_found",
        "user_not_found",
        "users_not_found",
        "account_inactive",
        "cannot_dm_bot",
        "is_archived",
        "user_disabled",
        "not_in_channel",
        "invalid_auth",
        "token_revoked",
        "no_permission",
        "team_access_not_granted",
    }
)
# Slack wants its 200 within 3 s; the journalling of a DM is awaited for at most this long.
RECORD_WAIT = 2.5
ACK_DEADLINE = 3.0  # seconds Slack waits for a slash command's or a button's ack
UNREACHABLE = (aiohttp.ClientError, asyncio.TimeoutError, OSError)  # Slack not answering at all
GROUPS_TTL = 600.0  # seconds an unknown user group waits before the groups are listed again
SOCKET_CONNECT_WAIT = 10.0  # seconds start() waits for Socket Mode before leaving it to connect on its own
TRANSIENT_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})

# <@U123>, <@U123|name>, <#C123>, <#C123|name>, <!here>, <!subteam^S1|@team>, <url|label>
_SPECIAL = re.compile(r"<([@#!]?)([^<>|]*)(?:\|([^<>]*))?>")


def unescape(text: str) -> str:
    """Undo Slack's escaping of ``&``, ``<`` and ``>`` (``&amp;`` last, so it is done once)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


async def to_plain_text(
    text: str,
    user_name: Callable[[str], Awaitable[str]],
    channel_name: Callable[[str], Awaitable[str]],
    group_name: Callable[[str], Awaitable[str]] | None = None,
) -> str:
    """Turn Slack wire text into plain readable text: mentions become ``@Name`` /
    ``#channel`` / ``@group`` (names looked up when the token carries no label), dates the
    date they stand for, links ``label (url)``, and the three escaped characters are
    restored. Never a raw token.

    Special sequences are only ever real angle brackets; anything a person typed as ``<``
    arrives as ``&lt;`` and so survives as the literal text they typed.
    """
    parts: list[str] = []
    pos = 0
    for m in _SPECIAL.finditer(text):
        parts.append(unescape(text[pos : m.start()]))
        pos = m.end()
        sigil, target, label = m.group(1), m.group(2), m.group(3)
        label = unescape(label) if label is not None else None
        if sigil == "@":
            parts.append("@" + (await user_name(target) if target else ""))
        elif sigil == "#":
            parts.append("#" + (label or await channel_name(target)))
        elif sigil == "!":
            if target.startswith("subteam^"):
                group = target.split("^", 1)[1]
                name = label or (await group_name(group) if group_name else "")
                parts.append("@" + (name or "group").lstrip("@"))
            elif target.startswith("date^"):
                parts.append(label or readable_time(target.split("^")[1]))
            else:
                parts.append("@" + (label or target).lstrip("@"))
        else:
            url = unescape(target)
            shown = url.removeprefix("mailto:")
            parts.append(f"{label} ({shown})" if label and label not in (url, shown) else shown)
    parts.append(unescape(text[pos:]))
    return "".join(parts)


class _JournalledSocketHandler(AsyncSocketModeHandler):
    """Bolt's Socket Mode handler, acknowledging an envelope only once ``journalled`` allows."""

    journalled: Callable[[Any], contextlib.AbstractAsyncContextManager[None]] | None = None

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        start = time.time()
        around = self.journalled(req.payload) if self.journalled is not None else contextlib.nullcontext()
        async with around:
            bolt_resp: BoltResponse = await run_async_bolt_app(self.app, req)
        await send_async_response(client, req, bolt_resp, start)


def _may_relay(body: Any) -> bool:
    """Whether an Events API body is a person's DM message the core will journal."""
    event = body.get("event") if isinstance(body, dict) else None
    return (
        isinstance(event, dict)
        and event.get("type") == "message"
        and event.get("channel_type") == "im"
        and not event.get("bot_id")
        and event.get("subtype") in (None, "file_share", "thread_broadcast", "me_message")
    )


def map_slack_error(exc: BaseException) -> DeliveryError:
    """Map a slack_sdk / aiohttp failure onto the contract's exceptions."""
    if isinstance(exc, SlackApiError):
        resp = exc.response
        status = getattr(resp, "status_code", 200)
        error = str(resp.get("error", "")) if hasattr(resp, "get") else ""
        headers = {str(k).lower(): v for k, v in (getattr(resp, "headers", None) or {}).items()}
        if status == 429 or error == "ratelimited":
            raw = headers.get("retry-after", "1")
            retry = raw[0] if isinstance(raw, list) else raw
            try:
                retry_after = float(retry)
            except (TypeError, ValueError):
                retry_after = 1.0
            return RateLimited(retry_after, f"slack: ratelimited (retry after {retry_after:g}s)")
        if status >= 500 or error in TRANSIENT_ERRORS:
            return TransientError(f"slack: HTTP {status} {error}".strip())
        if error in UNREACHABLE_ERRORS:
            return RecipientUnreachable(f"slack: {error}")
        if status == 403:
            return RecipientUnreachable(f"slack: HTTP 403 {error}".strip())
        return PermanentError(f"slack: {error or f'HTTP {status}'}")
    if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError, SlackClientError, OSError)):
        return TransientError(f"slack: {type(exc).__name__}: {exc}")
    return PermanentError(f"slack: {type(exc).__name__}: {exc}")


def build_blocks(text: str, actions: tuple[Action, ...]) -> list[dict[str, Any]]:
    """Block Kit for a post: a mrkdwn section with the text, a reason input when an action
    needs one, and an actions block of buttons."""
    blocks: list[dict[str, Any]] = []
    if text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:MAX_SECTION_TEXT]}})
    if any(a.needs_reason and a.url is None for a in actions):
        blocks.append(
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": "Reason"},
                "element": {"type": "plain_text_input", "action_id": REASON_INPUT, "multiline": True},
            }
        )
    if actions:
        blocks.append(
            {"type": "actions", "block_id": "pluto_actions", "elements": [_button(a) for a in actions]}
        )
    return blocks


def _button(action: Action) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action.id,
        "text": {"type": "plain_text", "text": action.label[:MAX_BUTTON_LABEL] or "?", "emoji": True},
        "value": LINK_VALUE if action.url else action.id,
    }
    if action.style in ("primary", "danger"):
        button["style"] = action.style
    if action.url:
        button["url"] = action.url
    return button


def notification_text(post: Post) -> str:
    """The message's top-level ``text`` (notifications, screen readers): the plain-text
    fallback with Slack's three entities escaped, since Slack parses ``<!channel>``,
    ``<@U1>`` and ``<url|label>`` in this field too; the rendered text when there is none."""
    return escape_mrkdwn(post.fallback) if post.fallback else post.text


# What the adapter calls: conversations.open (im:write), chat.postMessage/update/delete
# (chat:write), users.info with the profile's email (users:read, users:read.email), the
# slash command (commands), DM events (im:history), user group handles for mentions typed
# without a label (usergroups:read).
BOT_SCOPES = (
    "chat:write",
    "commands",
    "im:history",
    "im:read",
    "im:write",
    "usergroups:read",
    "users:read",
    "users:read.email",
)


def slash_command(command: str, request_url: str | None = None) -> dict[str, Any]:
    """The slash command as an app manifest declares it, subcommands from ``COMMANDS``
    (Slack has no API to register commands: they live in the app's manifest)."""
    declared: dict[str, Any] = {
        "command": command,
        "description": "Pluto: " + ", ".join(c.name for c in COMMANDS),
        "usage_hint": " | ".join(c.usage for c in COMMANDS),
        "should_escape": False,
    }
    if request_url is not None:
        declared["url"] = request_url
    return declared


def app_manifest(*, name: str, command: str, socket_mode: bool, events_url: str) -> dict[str, Any]:
    """A Slack app manifest for the bridge (paste it at api.slack.com/apps, "From a
    manifest"): the bot, its scopes, the DM events, the slash command and interactivity,
    delivered over Socket Mode or to ``events_url``."""
    url = None if socket_mode else events_url
    settings: dict[str, Any] = {
        "event_subscriptions": {"bot_events": ["message.im"]},
        "interactivity": {"is_enabled": True},
        "org_deploy_enabled": False,
        "socket_mode_enabled": socket_mode,
        "token_rotation_enabled": False,
    }
    if url is not None:
        settings["event_subscriptions"]["request_url"] = url
        settings["interactivity"]["request_url"] = url
    return {
        "display_information": {"name": name, "description": "Your Pluto messages, alerts and tasks in Slack"},
        "features": {
            "app_home": {"messages_tab_enabled": True, "messages_tab_read_only_enabled": False},
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": [slash_command(command, url)],
        },
        "oauth_config": {"scopes": {"bot": list(BOT_SCOPES)}},
        "settings": settings,
    }


def _malformed(timestamp: str, body: bytes) -> str | None:
    """What is wrong with a request Bolt could not parse (it answers those with a 500
    before the signature is even checked), or None. Slack sends a numeric timestamp and
    a UTF-8 body: a JSON object, or a form whose ``payload`` is a JSON object."""
    if not timestamp.isdigit():
        return "missing or non-numeric X-Slack-Request-Timestamp"
    try:
        text = body.decode("utf-8")
        if text.lstrip().startswith(("{", "[")):
            parsed: Any = json.loads(text)
        else:
            payload = parse_qs(text, errors="strict").get("payload")
            parsed = json.loads(payload[0]) if payload else {}
    except (UnicodeDecodeError, ValueError):
        return "the body is not UTF-8 JSON or a form"
    return None if isinstance(parsed, dict) else "the body is not a JSON object"


class SlackAdapter(Adapter):
    """Slack through slack-bolt's ``AsyncApp``.

    Keyword-only arguments:

    - ``workspaces``: team id -> bot token (``xoxb-…``); every workspace the app is
      installed in. Bolt's ``authorize`` picks the token per incoming request, and each
      send uses the token of the recipient's workspace.
    - ``signing_secret``: the app's signing secret; Bolt rejects unsigned, forged or stale
      (> 5 min) HTTP requests with 401.
    - ``mode``: ``"http"`` (serve ``web_routes()``) or ``"socket"`` (Socket Mode, no public
      endpoint; needs ``app_token``).
    - ``app_token``: the app-level token (``xapp-…``) for Socket Mode.
    - ``api_base_url``: Web API base URL with trailing slash (a sandbox in tests).
    - ``events_path``: path of the one HTTP route for events, commands and interactivity.
    - ``command``: the slash command, ``/pluto`` by default; ``COMMANDS`` are its subcommands.
    - ``socket_ping_interval``: Socket Mode heartbeat, and the SDK's delay between
      connection attempts while Slack cannot be reached.
    """

    platform = Platform.SLACK
    capabilities = Capabilities(
        markup=Markup.SLACK_MRKDWN,
        max_text=MAX_SECTION_TEXT,
        max_actions=5,
        per_room=(Pace(3, 3),),  # chat.postMessage: ~1/s per channel, short bursts tolerated
        threads=True,
        edits=True,
        private_replies=True,  # slash command answers are ephemeral, also in a channel
    )

    def __init__(
        self,
        *,
        workspaces: Mapping[str, str],
        signing_secret: str,
        mode: Literal["http", "socket"] = "http",
        app_token: str | None = None,
        api_base_url: str = "https://slack.com/api/",
        events_path: str = "/slack/events",
        command: str = "/pluto",
        socket_ping_interval: float = 10.0,
    ) -> None:
        if mode not in ("http", "socket"):
            raise ValueError(f"mode must be 'http' or 'socket', not {mode!r}")
        if mode == "socket" and not app_token:
            raise ValueError("Socket Mode needs an app-level token (xapp-…)")
        self.workspaces = dict(workspaces)
        self.mode = mode
        self.app_token = app_token
        self.api_base_url = api_base_url
        self.events_path = events_path
        self.command = command
        self.profile = Profile(Platform.SLACK, "Slack", self.capabilities, f"{command} ")
        self.socket_ping_interval = socket_ping_interval
        self._clients = {
            team: AsyncWebClient(token=tok, base_url=api_base_url) for team, tok in workspaces.items()
        }
        self._auth: dict[str, AuthorizeResult] = {}
        self._dms: dict[ChatIdentity, str] = {}
        self._names: dict[tuple[str, str], str] = {}
        self._groups: dict[tuple[str, str], str] = {}  # (team, group id) -> handle
        self._groups_listed: dict[str, float] = {}  # team -> monotonic time of the last listing
        self._channels: dict[tuple[str, str], str] = {}  # (team, channel id) -> name
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._runner: Runner | None = None
        self._unrecorded: dict[str, asyncio.Event] = {}  # event id -> journalled
        self._socket: AsyncSocketModeHandler | None = None
        self._connector: asyncio.Task[None] | None = None

        # a plain function: Bolt passes arguments by the callable's parameter names, and a
        # bound method's ``self`` would be among them
        async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult | None:
            return await self._authorize(enterprise_id, team_id)

        self.app = AsyncApp(
            # no token here: each request gets its workspace's token from ``authorize``
            client=AsyncWebClient(base_url=api_base_url),
            signing_secret=signing_secret,
            authorize=cast(Callable[..., Awaitable[AuthorizeResult]], authorize),  # None = unknown team
        )
        self.app.middleware(self._skip_seen_retries)
        self.app.event("message")(self._on_message)
        self.app.event("app_home_opened")(self._on_app_home)
        self.app.command(command)(self._on_command)
        self.app.action(re.compile(".+"))(self._on_action)

    # --- lifecycle -----------------------------------------------------------------------

    def web_routes(self) -> list[web.RouteDef]:
        """The events route (HTTP mode only), served through Bolt's aiohttp adapter."""
        if self.mode != "http":
            return []
        return [web.post(self.events_path, self._handle_http)]

    async def _handle_http(self, request: web.Request) -> web.Response:
        if self._runner is None:
            # Not started yet (or stopping): a 2xx would tell Slack the event was taken and
            # it would be lost; a 503 makes Slack redeliver it (retry-num 1, 2, 3).
            return web.Response(status=503, text="not ready")
        problem = _malformed(request.headers.get("X-Slack-Request-Timestamp", ""), await request.read())
        if problem is not None:
            log.info("slack: request refused: %s", problem)
            return web.Response(status=400, text=problem)
        bolt_req = await to_bolt_request(request)
        async with self._journalled(bolt_req.body):
            bolt_resp = await self.app.async_dispatch(bolt_req)
        return await to_aiohttp_response(bolt_resp)

    async def start(self, sink: EventSink) -> None:
        """Remember the sink, learn each workspace's bot identity (auth.test) and, in
        Socket Mode, connect.

        Slack being unreachable does not fail the start (the bridge keeps serving its other
        platforms): the identity is learnt again on the first request, sends fail as
        transient until Slack answers, and Socket Mode keeps connecting in the background
        (slack_sdk retries every ``socket_ping_interval``). A rejected app-level token fails
        the start: that is a configuration error, and the SDK would retry it forever.
        """
        self._runner = Runner.of(sink)
        for team in self._clients:
            try:
                await self._authorize(enterprise_id=None, team_id=team)
            except (SlackClientError, *UNREACHABLE) as exc:  # one bad workspace must not keep the others down
                log.warning("slack: auth.test failed for workspace %s: %s", team, exc)
        if self.mode == "socket":
            await self._start_socket()

    async def health_problem(self) -> str | None:
        if self.mode == "socket" and (self._socket is None or not await self._socket.client.is_connected()):
            return "Socket Mode not connected"
        return None

    async def _start_socket(self) -> None:
        handler = _JournalledSocketHandler(self.app, self.app_token, ping_interval=self.socket_ping_interval)
        handler.journalled = self._journalled
        reachable = True
        try:
            # One apps.connections.open of our own tells a rejected token from an outage;
            # the URL it returns is the one the client connects to (no second call).
            opened = await self.app.client.apps_connections_open(app_token=cast(str, self.app_token))
            handler.client.wss_uri = str(opened["url"])
        except SlackApiError as exc:
            if exc.response.get("error") != "ratelimited":
                await handler.close_async()  # releases the client's HTTP session
                raise
            log.warning("slack: apps.connections.open rate limited; connecting in the background")
            reachable = False
        except UNREACHABLE as exc:
            log.error("slack: Socket Mode cannot connect (%s); retrying in the background", exc)
            reachable = False
        self._socket = handler
        self._connector = asyncio.create_task(handler.connect_async(), name="slack socket mode")
        if reachable:  # normally connected within moments; otherwise the SDK keeps trying
            await asyncio.wait({self._connector}, timeout=SOCKET_CONNECT_WAIT)

    async def stop(self) -> None:
        """Close Socket Mode and cancel listener work still running; safe twice."""
        socket, self._socket = self._socket, None
        if socket is not None:
            await socket.close_async()
        connector, self._connector = self._connector, None
        if connector is not None:
            connector.cancel()
            await asyncio.gather(connector, return_exceptions=True)
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.stop(self.platform)  # unfinished events stay journalled

    # --- Bolt plumbing -------------------------------------------------------------------

    async def _authorize(self, enterprise_id: str | None, team_id: str | None) -> AuthorizeResult | None:
        """Bolt's per-request authorize: the workspace's bot token and bot identity."""
        if team_id is None or team_id not in self._clients:
            return None
        cached = self._auth.get(team_id)
        if cached is None:
            client = self._clients[team_id]
            cached = AuthorizeResult.from_auth_test_response(
                bot_token=client.token, auth_test_response=await client.auth_test()
            )
            self._auth[team_id] = cached
        return cached

    async def _skip_seen_retries(
        self, req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        """Ack a redelivery of an event this process already handled without re-running
        the listener (platforms.md 2.1). A retry of an event we never saw still goes
        through, with the same event_id, so the core can decide."""
        event_id = req.body.get("event_id") if isinstance(req.body, dict) else None
        if event_id:
            retry = (req.headers.get("x-slack-retry-num") or ["0"])[0]
            if retry not in ("", "0") and event_id in self._seen:
                return BoltResponse(status=200, body="")
            self._seen[event_id] = None
            while len(self._seen) > 10_000:
                self._seen.popitem(last=False)
        await next()
        return None

    @contextlib.asynccontextmanager
    async def _journalled(self, body: Any) -> AsyncIterator[None]:
        """Around Bolt's dispatch of one request: for a person's DM, its answer (HTTP 200 or
        the Socket Mode ack) waits until the core has journalled the message (at most
        ``RECORD_WAIT``, inside Slack's 3 s), so a crash before that makes Slack deliver it
        again rather than lose it."""
        event_id = body.get("event_id") if isinstance(body, dict) else None
        if not event_id or not _may_relay(body):
            yield
            return
        done = self._unrecorded[str(event_id)] = asyncio.Event()
        try:
            yield
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), RECORD_WAIT)
        finally:
            self._unrecorded.pop(str(event_id), None)

    @property
    def _runs(self) -> Runner:
        """The core's runner (Bolt runs listeners only once started)."""
        assert self._runner is not None, "slack: event before start()"
        return self._runner

    def _settle(self, event_id: str) -> None:
        done = self._unrecorded.get(event_id)
        if done is not None:
            done.set()

    async def _display_name(self, team: str, user: str) -> str:
        key = (team, user)
        if key not in self._names:
            name = user
            client = self._clients.get(team)
            if client is not None:
                try:
                    info = (await client.users_info(user=user)).get("user") or {}
                    profile = info.get("profile") or {}
                    name = profile.get("display_name") or profile.get("real_name") or info.get("name") or user
                except SlackClientError as exc:
                    log.info("slack: users.info %s failed: %s", user, exc)
                    return user
            self._names[key] = name
        return self._names[key]

    async def _channel_name(self, team: str, channel: str) -> str:
        """A channel's name (``conversations.info``), cached; "channel" when unknown."""
        key = (team, channel)
        if key not in self._channels:
            client = self._clients.get(team)
            if client is None:
                return "channel"
            try:
                info = (await client.conversations_info(channel=channel)).get("channel") or {}
            except SlackClientError:
                return "channel"
            self._channels[key] = str(info.get("name") or "channel")
        return self._channels[key]

    async def _plain(self, team: str, text: str) -> str:
        async def user_name(user: str) -> str:
            return await self._display_name(team, user)

        async def channel_name(channel: str) -> str:
            return await self._channel_name(team, channel)

        async def group_name(group: str) -> str:
            return await self._group_name(team, group)

        return await to_plain_text(text, user_name, channel_name, group_name)

    async def _group_name(self, team: str, group: str) -> str:
        """A user group's handle (``usergroups.list``, needs ``usergroups:read``), the
        workspace's groups cached; empty when it cannot be found."""
        key = (team, group)
        if key not in self._groups:
            client = self._clients.get(team)
            listed_at = self._groups_listed.get(team)
            if client is None or (listed_at is not None and time.monotonic() - listed_at < GROUPS_TTL):
                return ""  # unknown as of a recent listing: not worth another call yet
            try:
                listed = (await client.usergroups_list()).get("usergroups") or []
            except SlackClientError as exc:
                log.info("slack: usergroups.list failed: %s", exc)
                return ""
            self._groups_listed[team] = time.monotonic()
            for g in listed:
                self._groups[(team, str(g.get("id")))] = str(g.get("handle") or g.get("name") or "")
        return self._groups.get(key, "")

    def _identity(self, team: str, user: str) -> ChatIdentity:
        return ChatIdentity(Platform.SLACK, team, user)

    # --- inbound -------------------------------------------------------------------------

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        """A DM to the bot -> MessageEvent; the bot's own posts and other bots are dropped."""
        if event.get("channel_type") != "im":
            return
        if event.get("bot_id") or event.get("subtype") not in (
            None,
            "file_share",
            "thread_broadcast",
            "me_message",
        ):
            return
        user = event.get("user")
        if not user or user == getattr(context, "bot_user_id", None):
            return
        team = str(body.get("team_id") or context.team_id)
        identity = self._identity(team, user)
        unrecorded = str(body.get("event_id") or "")

        async def settle() -> None:  # Slack gets its 200 (or Socket Mode ack) once journalled
            self._settle(unrecorded)

        place = self._runs.place(identity, settle)  # before any await: arrival order
        try:
            channel = str(event["channel"])
            self._dms[identity] = channel
            thread = event.get("thread_ts")
            thread = thread if thread and thread != event.get("ts") else None
            message = MessageEvent(
                identity=identity,
                event_id=str(body.get("event_id") or event.get("client_msg_id") or event["ts"]),
                room=channel,
                display_name=await self._display_name(team, user),
                is_private=True,
                text=await self._plain(team, str(event.get("text") or "")),
                reply_to=thread,
                thread=thread,
            )

            async def answer(reply: Reply | None) -> None:
                if reply is not None:
                    await self._ephemeral(team, channel, user, reply, thread)

            await self._runs.submit(Interaction(message, answer=answer), place)
        except BaseException:
            place.leave()  # not handed over: Slack is not kept waiting, the next event goes
            raise

    async def _on_app_home(self, body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        """The person opened the app (its Messages or Home tab) -> ContactEvent."""
        team = str(body.get("team_id") or context.team_id)
        user = str(event["user"])
        identity = self._identity(team, user)
        place = self._runs.place(identity)
        try:
            channel = event.get("channel") or await self._open_dm(identity)
            self._dms[identity] = channel
            contact = ContactEvent(
                identity=identity,
                event_id=str(body.get("event_id") or f"home:{team}:{user}:{event.get('event_ts')}"),
                room=channel,
                display_name=await self._display_name(team, user),
                is_private=True,
            )

            async def answer(reply: Reply | None) -> None:
                if reply is not None:
                    await self._ephemeral(team, channel, user, reply, None)

            await self._runs.submit(Interaction(contact, answer=answer), place)
        except BaseException:
            place.leave()
            raise

    def _interaction_place(self, identity: ChatIdentity, ack: AsyncAck) -> Place:
        """The place of a slash command or button press, acknowledged once journalled and
        within Slack's 3 s at the latest."""

        async def acknowledge() -> None:
            await ack()

        return self._runs.place(identity, acknowledge, asyncio.get_running_loop().time() + ACK_DEADLINE)

    def _responder(self, respond: AsyncRespond) -> Callable[[Reply | None], Awaitable[None]]:
        async def answer(reply: Reply | None) -> None:
            if reply is not None:
                await self._respond(respond, reply)

        return answer

    async def _on_command(self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        """``/pluto <sub> args``: journalled, then acked, then the core, then an ephemeral reply."""
        team, user = str(command["team_id"]), str(command["user_id"])
        identity = self._identity(team, user)
        place = self._interaction_place(identity, ack)  # before any await: arrival order
        try:
            channel = str(command.get("channel_id") or "")
            try:
                dm = await self._open_dm(identity)
            except DeliveryError as exc:
                log.info("slack: cannot open DM for %s: %s", identity, exc)
                dm = channel
            event = CommandEvent(
                identity=identity,
                event_id=str(command.get("trigger_id")),
                room=dm,
                display_name=await self._display_name(team, user),
                is_private=channel == dm,
                text=str(command.get("text") or ""),  # the core parses it
                handle=str(command.get("user_name") or ""),
                workspace_name=str(command.get("team_domain") or ""),
            )
            await self._runs.submit(Interaction(event, answer=self._responder(respond)), place)
        except BaseException:
            place.leave()
            raise

    async def _on_action(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        """A button press -> ActionEvent with the pressed message and any typed reason."""
        action = (body.get("actions") or [{}])[0]
        if action.get("value") == LINK_VALUE or action.get("type") != "button":
            await ack()
            return  # a link button (Slack reports the click) or an input: nothing to do
        user = body.get("user") or {}
        team = str((body.get("team") or {}).get("id") or user.get("team_id"))
        identity = self._identity(team, str(user.get("id")))
        place = self._interaction_place(identity, ack)  # before any await: arrival order
        try:
            container = body.get("container") or {}
            message = body.get("message") or {}
            channel = str(container.get("channel_id") or (body.get("channel") or {}).get("id"))
            ts = str(container.get("message_ts") or message.get("ts"))
            values = ((body.get("state") or {}).get("values") or {}).get(REASON_BLOCK) or {}
            reason = (values.get(REASON_INPUT) or {}).get("value") or ""
            event = ActionEvent(
                identity=identity,
                event_id=str(body.get("trigger_id")),
                room=channel,
                display_name=await self._display_name(team, identity.user_id),
                is_private=channel.startswith("D"),
                action_id=str(action.get("action_id")),
                reason=reason.strip(),
                message=SentRef(room=channel, message_id=ts, thread=message.get("thread_ts")),
            )
            await self._runs.submit(Interaction(event, answer=self._responder(respond)), place)
        except BaseException:
            place.leave()
            raise

    async def _respond(self, respond: AsyncRespond, reply: Reply) -> None:
        """Show a Reply through the interaction's response_url: the pressed message is
        replaced when asked, texts go ephemeral, the buttons ride on the last text."""
        if reply.replace is not None:
            post = reply.replace
            await respond(
                text=notification_text(post),
                blocks=build_blocks(post.text, post.actions),
                replace_original=True,
            )
        for i, text in enumerate(reply.texts):
            last = i == len(reply.texts) - 1
            blocks = build_blocks(text, reply.actions) if last and reply.actions else None
            await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)

    async def _ephemeral(self, team: str, channel: str, user: str, reply: Reply, thread: str | None) -> None:
        """Show a Reply to a message/contact event as ephemeral messages in the DM."""
        client = self._clients[team]
        for i, text in enumerate(reply.texts):
            last = i == len(reply.texts) - 1
            blocks = build_blocks(text, reply.actions) if last and reply.actions else None
            try:
                await client.chat_postEphemeral(
                    channel=channel, user=user, text=text, blocks=blocks, thread_ts=thread
                )
            except SlackClientError as exc:
                log.warning("slack: ephemeral reply to %s failed: %s", user, exc)

    # --- outbound ------------------------------------------------------------------------

    def _client(self, team: str) -> AsyncWebClient:
        client = self._clients.get(team)
        if client is None:
            raise RecipientUnreachable(f"slack: no bot token for workspace {team}")
        return client

    async def _open_dm(self, identity: ChatIdentity) -> str:
        """The bot's DM channel with a person (conversations.open), cached in memory."""
        channel = self._dms.get(identity)
        if channel is None:
            client = self._client(identity.workspace)
            try:
                resp = await client.conversations_open(users=identity.user_id)
            except Exception as exc:
                raise map_slack_error(exc) from exc
            channel = str(resp["channel"]["id"])
            self._dms[identity] = channel
        return channel

    async def send(self, dest: Destination, post: Post) -> SentRef:
        """chat.postMessage into the person's DM (opened when ``dest.room`` is unknown)."""
        client = self._client(dest.identity.workspace)
        channel = dest.room or await self._open_dm(dest.identity)
        try:
            resp = await client.chat_postMessage(
                channel=channel,
                text=notification_text(post),
                blocks=build_blocks(post.text, post.actions),
                thread_ts=post.thread,
                unfurl_links=False,
                unfurl_media=False,
                mrkdwn=True,
            )
        except Exception as exc:
            raise map_slack_error(exc) from exc
        return SentRef(room=str(resp["channel"]), message_id=str(resp["ts"]), thread=post.thread)

    async def find_sent(self, dest: Destination, post: Post, since: float) -> SentRef | None:
        """The bot's message with this post's text in the person's DM (or the post's thread)
        since ``since``: conversations.history / conversations.replies (scope im:history)."""
        if not dest.room:
            return None  # no DM was ever opened: nothing can have arrived
        client = self._client(dest.identity.workspace)
        oldest = f"{max(0.0, since - 1):.6f}"  # a second's leeway between the two clocks
        try:
            if post.thread:
                resp = await client.conversations_replies(channel=dest.room, ts=post.thread, oldest=oldest, limit=100)
            else:
                resp = await client.conversations_history(channel=dest.room, oldest=oldest, limit=100)
        except Exception as exc:
            raise map_slack_error(exc) from exc
        text = notification_text(post)
        for message in resp.get("messages") or []:
            if message.get("bot_id") and message.get("text") == text and message.get("ts") != post.thread:
                return SentRef(room=dest.room, message_id=str(message["ts"]), thread=post.thread)
        return None

    async def edit(self, dest: Destination, ref: SentRef, post: Post) -> None:
        """chat.update with the token of the person's workspace: new text and blocks (no
        actions block when ``post.actions`` is empty, which retires the buttons)."""
        client = self._client(dest.identity.workspace)
        try:
            await client.chat_update(
                channel=ref.room,
                ts=ref.message_id,
                text=notification_text(post),
                blocks=build_blocks(post.text, post.actions),
            )
        except Exception as exc:
            raise map_slack_error(exc) from exc

    async def delete(self, dest: Destination, ref: SentRef) -> None:
        """chat.delete of a post the bot sent, with the token of the person's workspace."""
        client = self._client(dest.identity.workspace)
        try:
            await client.chat_delete(channel=ref.room, ts=ref.message_id)
        except Exception as exc:
            raise map_slack_error(exc) from exc

    async def profile_email(self, identity: ChatIdentity) -> str | None:
        """The person's email from users.info (needs ``users:read.email``), to suggest their
        Pluto account on the sign-in page."""
        client = self._clients.get(identity.workspace)
        if client is None:
            return None
        try:
            resp = await client.users_info(user=identity.user_id)
        except SlackClientError as exc:
            log.info("slack: users.info %s failed: %s", identity, exc)
            return None
        email = ((resp.get("user") or {}).get("profile") or {}).get("email")
        return str(email) if email else None
