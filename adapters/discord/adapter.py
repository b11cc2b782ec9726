"""Discord adapter on discord.py 2.7: DMs with the bot, the ``/pluto`` command and buttons.

Inbound, a discord.py ``Client`` (gateway) turns DMs, ``/pluto <subcommand>`` interactions and
button presses into ``bridge.model`` events; outbound, posts go to the person's DM channel
through discord.py's REST client. discord.py owns the gateway connection, heartbeats,
reconnects and RESUME; events keep their Discord ids (message id, interaction id) so a RESUME
replay of an event carries the same ``event_id`` and the core drops the repeat. Each event
goes to the core's runner as an ``Interaction``: the runner keeps each person's events in
arrival order (discord.py runs every handler as its own task), journals an interaction
before deferring it (within Discord's 3 s) and answers.

A button press is acknowledged as a deferred update of the pressed message (type 6); the
core's ``Reply.replace`` then edits that message and its texts go to the person as
ephemeral follow-ups. A decision that needs a reason is marked in the button's
``custom_id``: its press opens a modal (type 9), and the modal's submission is the press.

Pointing discord.py elsewhere (the sandbox) has no public option: the only seams are the
process-wide class attributes ``discord.http.Route.BASE`` and
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``. The adapter sets them when
``api_base_url``/``gateway_url`` are given and restores the previous values on ``stop``, so
only one redirected Discord adapter should run per process.
"""

import asyncio
import contextlib
import logging
from typing import Any

import discord
import yarl

from adapters.discord.client import _BridgeClient
from adapters.discord.inbound import DiscordInbound
from adapters.discord.views import _NO_MENTIONS
from bridge.inbound.runner import Runner
from bridge.model import Capabilities, Markup, Pace, Platform
from bridge.ports import EventSink, PermanentError, TransientError
from bridge.profile import Profile

log = logging.getLogger(__name__)

# Smallest value discord.py accepts: 429s asking for a longer wait raise RateLimited instead
# of being slept on inside send; shorter ones are slept and retried by discord.py per bucket.
MAX_RATELIMIT_WAIT = 30.0
START_TIMEOUT = 60.0  # login + command registration + gateway READY


class DiscordAdapter(DiscordInbound):
    """Discord through discord.py: the bot's DMs, ``/<command_name> <subcommand>`` and buttons.

    Keyword-only arguments:
      token: the bot token (``Authorization: Bot <token>``).
      application_id: the application (client) id; when None it is read at login from
        ``GET /oauth2/applications/@me``. Needed to register the command.
      api_base_url: REST base (e.g. ``http://127.0.0.1:P/api/v10``) for a stand-in; sets the
        process-wide ``discord.http.Route.BASE``. None: real Discord.
      gateway_url: gateway websocket URL (e.g. ``ws://127.0.0.1:P/gw``); sets the process-wide
        ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``. None: real Discord.
      command_name: the top-level application command; each ``COMMANDS`` entry becomes one
        of its subcommands (with a string option ``args`` when its usage takes arguments).
    """

    platform = Platform.DISCORD
    capabilities = Capabilities(
        markup=Markup.DISCORD_MARKDOWN,
        max_text=2000,
        max_actions=5,  # one action row
        # No per-channel pace of the core's: discord.py paces each channel's message bucket
        # (5 per 5 s) from the headers Discord answers with, and waits for the reset before
        # it runs dry; a pace counted from its answers would count that wait twice.
        per_room=(),
        # Discord allows 50 requests in any second per bot; a send to someone without a known
        # DM also opens one (two requests, two turns: ``opens_room``). 45: the rest is for
        # discord.py's own calls (log-in, command sync) while the first sends go out.
        overall=(Pace(45, 1),),
        opens_room=True,
        threads=False,
        edits=True,
        private_replies=True,  # interaction answers are ephemeral, also in a server channel
    )

    def __init__(
        self,
        *,
        token: str,
        application_id: str | None = None,
        api_base_url: str | None = None,
        gateway_url: str | None = None,
        command_name: str = "pluto",
    ) -> None:
        self._token = token
        self._application_id = application_id
        self._api_base_url = api_base_url
        self._gateway_url = gateway_url
        self._command_name = command_name
        self.profile = Profile(Platform.DISCORD, "Discord", self.capabilities, f"/{command_name} ")
        self._client: _BridgeClient | None = None
        self._runner: asyncio.Task[None] | None = None
        self._inbound: Runner | None = None
        self._ready = asyncio.Event()
        self._dm_channels: dict[str, str] = {}  # user id -> DM channel id
        self._dm_opening: dict[str, asyncio.Lock] = {}  # user id -> lock while its DM is opened
        # discord.py runs each event handler as its own task: without a per-person queue two
        # DMs written quickly (or replayed together after a RESUME) could reach the LMS swapped.
        self._saved_seams: dict[str, Any] = {}

    # -- lifecycle -------------------------------------------------------------------------

    def _apply_seams(self) -> None:
        if self._api_base_url:
            self._saved_seams["base"] = discord.http.Route.BASE
            discord.http.Route.BASE = self._api_base_url.rstrip("/")
        if self._gateway_url:
            self._saved_seams["gateway"] = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self._gateway_url)

    def _restore_seams(self) -> None:
        if "base" in self._saved_seams:
            discord.http.Route.BASE = self._saved_seams.pop("base")
        if "gateway" in self._saved_seams:
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self._saved_seams.pop("gateway")

    async def start(self, sink: EventSink) -> None:
        """Log in, register the commands, connect the gateway; return once READY arrived."""
        if self._client is not None:
            raise RuntimeError("DiscordAdapter already started")
        self._inbound = Runner.of(sink)
        self._ready = asyncio.Event()
        self._apply_seams()
        intents = discord.Intents.default()
        intents.message_content = True
        intents.dm_messages = True
        self._client = _BridgeClient(
            self,
            intents=intents,
            allowed_mentions=_NO_MENTIONS,
            application_id=int(self._application_id) if self._application_id else None,
            max_ratelimit_timeout=MAX_RATELIMIT_WAIT,
        )
        self._runner = asyncio.create_task(self._client.start(self._token), name="discord-client")
        ready = asyncio.create_task(self._ready.wait())
        await asyncio.wait({self._runner, ready}, timeout=START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        if ready.done():
            return
        ready.cancel()
        runner = self._runner
        failure = runner.exception() if runner.done() and not runner.cancelled() else None
        if not runner.done():  # discord.py keeps retrying an unreachable gateway: give up here
            failure = TimeoutError(f"no READY within {START_TIMEOUT:.0f}s")
        await self.stop()
        if isinstance(failure, discord.LoginFailure | discord.PrivilegedIntentsRequired):
            raise PermanentError(f"discord start failed: {failure}") from failure
        raise TransientError(f"discord start failed: {failure!r}") from failure

    async def stop(self) -> None:
        """Close the client, cancel this platform's inbound work, restore the seams; safe twice."""
        # Detach first so handlers still running in discord.py's tasks start nothing new.
        client, runner = self._client, self._runner
        self._client, self._runner = None, None
        if self._inbound is not None:
            await self._inbound.stop(self.platform)  # unfinished events stay journalled
        if client is not None:
            await client.close()
        if runner is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await runner
        self._restore_seams()

    async def health_problem(self) -> str | None:
        if self._client is None or not self._ready.is_set():
            return "not connected to the Discord gateway"
        return None
