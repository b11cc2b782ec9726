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
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import MAX_SECTION_TEXT
from adapters.slack.errors import UNREACHABLE
from adapters.slack.rooms import SlackRooms
from bridge.inbound.runner import Runner
from bridge.model import Capabilities, ChatIdentity, Markup, Pace, Platform
from bridge.ports import EventSink
from bridge.profile import Profile

log = logging.getLogger(__name__)

# Slack wants its 200 within 3 s; the journalling of a DM is awaited for at most this long.
RECORD_WAIT = 2.5
SOCKET_CONNECT_WAIT = 10.0  # seconds start() waits for Socket Mode before leaving it to connect on its own


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
    """Whether an Events API body is an event the core will journal: a person's message (in
    a DM, or a channel that may be a linked room), or their opening the app
    (``app_home_opened``)."""
    event = body.get("event") if isinstance(body, dict) else None
    if isinstance(event, dict) and event.get("type") == "app_home_opened":
        return bool(event.get("user"))
    return (
        isinstance(event, dict)
        and event.get("type") == "message"
        and event.get("channel_type") in ("im", "channel", "group")
        and not event.get("bot_id")
        and event.get("subtype") in (None, "file_share", "thread_broadcast", "me_message")
    )


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


class SlackAdapter(SlackRooms):
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
        rooms=True,  # channels, public and private, linked to Pluto groups
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
        self._bot_users: dict[str, str] = {}
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
        self._session: aiohttp.ClientSession | None = None  # shared by every Web API client, from start()

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
        self._room_listeners()
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
        self._share_session()
        for team in self._clients:
            try:
                await self._authorize(enterprise_id=None, team_id=team)
            except (SlackClientError, *UNREACHABLE) as exc:  # one bad workspace must not keep the others down
                log.warning("slack: auth.test failed for workspace %s: %s", team, exc)
        if self.mode == "socket":
            await self._start_socket()

    def _share_session(self) -> None:
        """One HTTP session, a pool of kept-alive connections, for every Web API call: a
        client without one opens and closes a connection (on Slack, a TLS handshake) for
        each request."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            for client in (*self._clients.values(), self.app.client):
                client.session = self._session

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
        session, self._session = self._session, None
        if session is not None:
            for client in (*self._clients.values(), self.app.client):
                client.session = None  # a later call opens its own, until the next start
            await session.close()

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
        """Around Bolt's dispatch of one request: for a person's DM or app opening, its answer
        (HTTP 200 or the Socket Mode ack) waits until the core has journalled the event (at most
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
