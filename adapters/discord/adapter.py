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
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
import discord
import yarl
from discord import app_commands

from adapters.readable import readable_time
from bridge.inbound.interaction import Interaction
from bridge.inbound.runner import Runner
from bridge.model import (
    COMMANDS,
    Action,
    ActionEvent,
    Capabilities,
    ChatEvent,
    ChatIdentity,
    CommandEvent,
    CommandSpec,
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

log = logging.getLogger(__name__)

CANNOT_MESSAGE_USER = 50007  # Discord: "Cannot send messages to this user" (closed DMs, no shared guild)
UNKNOWN_USER = 10013
# A button whose decision needs a reason carries this before its action id, so a press opens
# the reason modal even after a restart (the button itself says so; nothing to remember).
ASKS_REASON_PREFIX = "pluto-ask:"
REASON_MODAL_PREFIX = "pluto-reason:"
REASON_INPUT_ID = "reason"
# Discord's component limits: 5 rows of 5 buttons, labels of 80 characters, link buttons
# with an http(s) or discord: URL of at most 512 characters, modal titles of 45.
MAX_BUTTONS = 25
MAX_LABEL = 80
MAX_URL = 512
MAX_MODAL_TITLE = 45
_LINK_SCHEMES = ("http://", "https://", "discord://")
# Smallest value discord.py accepts: 429s asking for a longer wait raise RateLimited instead
# of being slept on inside send; shorter ones are slept and retried by discord.py per bucket.
MAX_RATELIMIT_WAIT = 30.0
_NO_MENTIONS = discord.AllowedMentions.none()
_STYLES = {"primary": discord.ButtonStyle.primary, "danger": discord.ButtonStyle.danger}
# Backslash escapes of Discord markdown that a person may type; undone for plain text.
ACK_DEADLINE = 3.0  # seconds Discord waits for an interaction's acknowledgement
START_TIMEOUT = 60.0  # login + command registration + gateway READY
HISTORY_PAGE = 100  # Discord's largest page of channel messages


def _label(text: str, limit: int = MAX_LABEL) -> str:
    text = " ".join(text.split()) or "\u2026"  # Discord refuses empty labels
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def custom_id_of(action: Action) -> str:
    """The button's ``custom_id``: the action id, marked when the decision asks a reason."""
    return ASKS_REASON_PREFIX + action.id if action.needs_reason else action.id


def _button_view(actions: tuple[Action, ...]) -> discord.ui.View:
    """Buttons in action rows of five, in order; the view is stopped so discord.py does not
    keep it for dispatch (presses come to ``on_interaction`` by ``custom_id`` even after a
    restart). A link Discord would refuse (not http(s), too long) is left out rather than
    losing the whole message to a 400."""
    view = discord.ui.View(timeout=None)
    for action in actions:
        if len(view.children) == MAX_BUTTONS:
            log.warning("discord: more than %d buttons; the rest are left out", MAX_BUTTONS)
            break
        if action.url:
            if not action.url.startswith(_LINK_SCHEMES) or len(action.url) > MAX_URL:
                log.warning("discord: link button %r left out: Discord refuses its URL", action.label)
                continue
            view.add_item(discord.ui.Button(label=_label(action.label), url=action.url))
        else:
            style = _STYLES.get(action.style, discord.ButtonStyle.secondary)
            view.add_item(discord.ui.Button(label=_label(action.label), custom_id=custom_id_of(action), style=style))
    view.stop()
    return view


def _pressed_label(message: discord.Message | None, custom_id: str) -> str:
    """The label of the button ``custom_id`` on the pressed message, if it can be found."""
    for row in message.components if message is not None else []:
        for child in getattr(row, "children", ()):
            if getattr(child, "custom_id", None) == custom_id:
                return str(getattr(child, "label", "") or "")
    return ""


# One pass over the content: a markdown escape, or a token Discord draws as something else.
_INBOUND = re.compile(
    r"\\(?P<escaped>[\\*_~`|>#\-\[\]()<:.!])"
    r"|<@!?(?P<user>\d+)>|<@&(?P<role>\d+)>|<#(?P<channel>\d+)>"
    r"|</(?P<command>[^:<>\n]+):\d+>|<a?:(?P<emoji>\w+):\d+>|<t:(?P<time>-?\d+)(?::[tTdDfFR])?>"
)


def _plain_text(message: discord.Message) -> str:
    """Message content as plain text (see ``readable_content``), names from the message."""
    return readable_content(
        message.content,
        users={str(u.id): u.display_name for u in message.mentions},
        roles={str(r.id): r.name for r in message.role_mentions},
        channels={str(c.id): str(getattr(c, "name", "") or "channel") for c in message.channel_mentions},
    )


def readable_content(
    content: str, *, users: Mapping[str, str], roles: Mapping[str, str], channels: Mapping[str, str]
) -> str:
    """Discord content as plain text, converted once: markdown escapes undone, and every
    token Discord draws as something else made readable: users, roles and channels by the
    names given (else ``@user``, ``@role``, ``#channel``), slash commands as ``/name``,
    custom emoji as ``:name:``, timestamps as a UTC date."""

    def readable(m: re.Match[str]) -> str:
        if m["escaped"] is not None:
            return m["escaped"]
        if m["user"] is not None:
            return "@" + users.get(m["user"], "user")
        if m["role"] is not None:
            return "@" + roles.get(m["role"], "role")
        if m["channel"] is not None:
            return "#" + channels.get(m["channel"], "channel")
        if m["command"] is not None:
            return "/" + m["command"]
        if m["emoji"] is not None:
            return f":{m['emoji']}:"
        return readable_time(m["time"])

    return _INBOUND.sub(readable, content)


def _retry_after_header(exc: discord.HTTPException) -> float:
    with contextlib.suppress(AttributeError, TypeError, ValueError):
        return float(exc.response.headers.get("Retry-After", 1.0))
    return 1.0


def map_error(exc: BaseException) -> DeliveryError:
    """Translate a discord.py / aiohttp failure into the adapter contract's exceptions."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, discord.RateLimited):
        return RateLimited(exc.retry_after, f"discord: retry after {exc.retry_after:.2f}s")
    if isinstance(exc, discord.HTTPException):
        reason = f"discord {exc.status} (code {exc.code}): {exc.text}"
        if exc.status == 429:
            # discord.py raises a plain HTTPException for 429s without Discord's headers
            # (Cloudflare): treat as a pause for the whole bot.
            return RateLimited(_retry_after_header(exc), reason, scope_all=True)
        if exc.code in (CANNOT_MESSAGE_USER, UNKNOWN_USER):
            return RecipientUnreachable(reason)
        if exc.status >= 500:
            return TransientError(reason)
        return PermanentError(reason)
    if isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | OSError):
        return TransientError(f"discord connection failed: {exc!r}")
    return PermanentError(f"discord: unexpected {exc!r}")


class _BridgeClient(discord.Client):
    """discord.py client wired to the adapter's handlers."""

    def __init__(self, adapter: "DiscordAdapter", **options: Any) -> None:
        super().__init__(**options)
        self.adapter = adapter
        self.tree = app_commands.CommandTree(self)

    async def setup_hook(self) -> None:
        # Runs after login, before the gateway connects: register the commands.
        await self.adapter._register_commands(self.tree)

    async def on_connect(self) -> None:
        # Dispatched when READY is parsed; on_ready would wait out guild_ready_timeout.
        self.adapter._ready.set()

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter._on_message(message)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await self.adapter._on_interaction(interaction)


class DiscordAdapter(Adapter):
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

    def _require_client(self) -> _BridgeClient:
        if self._client is None or not self._ready.is_set():
            raise TransientError("discord adapter is not connected")
        return self._client

    # -- commands --------------------------------------------------------------------------

    def _subcommand(self, spec: CommandSpec) -> app_commands.Command[Any, ..., None]:
        """One subcommand; an ``args`` string option when the usage names arguments
        (optional when written ``[LIKE THIS]``)."""
        _, _, usage_args = spec.usage.partition(" ")
        name = spec.name

        async def no_args(interaction: discord.Interaction) -> None:
            await self._on_command(interaction, name, "")

        async def required_args(interaction: discord.Interaction, args: str) -> None:
            await self._on_command(interaction, name, args)

        async def optional_args(interaction: discord.Interaction, args: str | None = None) -> None:
            await self._on_command(interaction, name, args or "")

        callback: Callable[..., Awaitable[None]]
        if not usage_args:
            callback = no_args
        else:
            callback = optional_args if usage_args.startswith("[") else required_args
            callback = app_commands.describe(args=usage_args[:100])(callback)
        return app_commands.Command(name=name, description=spec.description[:100], callback=callback)

    async def _register_commands(self, tree: app_commands.CommandTree[Any]) -> None:
        """Publish every COMMANDS entry as a subcommand (global bulk overwrite)."""
        group = app_commands.Group(
            name=self._command_name, description="Pluto LMS messages, alerts and tasks"
        )
        for spec in COMMANDS:
            group.add_command(self._subcommand(spec))
        tree.clear_commands(guild=None)
        tree.add_command(group)
        await tree.sync()

    # -- inbound ---------------------------------------------------------------------------

    @staticmethod
    def _common(interaction: discord.Interaction) -> dict[str, Any]:
        user = interaction.user
        channel = interaction.channel
        is_dm = interaction.guild_id is None and getattr(channel, "type", None) is discord.ChannelType.private
        return {
            "identity": ChatIdentity(Platform.DISCORD, "", str(user.id)),
            "event_id": str(interaction.id),
            "room": str(interaction.channel_id),
            "display_name": user.display_name,
            "is_private": is_dm,
            "handle": user.name,
            "workspace_name": interaction.guild.name if interaction.guild is not None else "",
            "picture_url": user.display_avatar.url,
        }

    async def _submit(
        self,
        event: ChatEvent,
        answer: Callable[[Reply | None], Awaitable[None]],
        ack: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        """Hand ``event`` to the core's runner; an interaction's ``ack`` (its deferral)
        follows the journal write, within Discord's 3 s."""
        if self._client is None or self._inbound is None:
            return  # stopping: drop work that arrives meanwhile

        async def acknowledge() -> bool:
            if ack is None:
                return True
            try:
                await ack()
            except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
                # Too late (10062), or a RESUME replay acknowledged before (40060): Discord
                # has forgotten it or it was handled, so it is dropped.
                log.info("discord: interaction %s not acknowledged: %s", event.event_id, map_error(exc).reason)
                return False
            return True

        deadline = None if ack is None else asyncio.get_running_loop().time() + ACK_DEADLINE
        await self._inbound.submit(Interaction(event, acknowledge, answer, deadline=deadline))

    async def _on_message(self, message: discord.Message) -> None:
        client = self._client
        if client is None or message.author.bot or (client.user and message.author.id == client.user.id):
            return  # never relay bots, ourselves included (relay loops)
        if message.guild is not None or not isinstance(message.channel, discord.DMChannel):
            return  # only the person's DM with the bot is relayed
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return
        self._dm_channels[str(message.author.id)] = str(message.channel.id)
        common: dict[str, Any] = {
            "identity": ChatIdentity(Platform.DISCORD, "", str(message.author.id)),
            "event_id": str(message.id),
            "room": str(message.channel.id),
            "display_name": message.author.display_name,
            "is_private": True,
        }
        text = _plain_text(message)
        event: ChatEvent
        if text.strip():
            reply_to = message.reference.message_id if message.reference else None
            event = MessageEvent(**common, text=text, reply_to=str(reply_to) if reply_to else None)
        else:
            event = ContactEvent(**common)  # a DM without text (attachment, sticker)

        async def answer(reply: Reply | None) -> None:
            await self._show_in_dm(event, reply)

        await self._submit(event, answer)

    async def _show_in_dm(self, event: ChatEvent, reply: Reply | None) -> None:
        """No ephemeral messages outside interactions: answer in the DM itself."""
        if reply is None:
            return
        dest = Destination(identity=event.identity, room=event.room)
        posts = [Post(text=t) for t in reply.texts]
        if posts and reply.actions:
            posts[-1] = Post(text=posts[-1].text, actions=reply.actions)
        for post in posts:
            try:
                await self.send(dest, post)
            except DeliveryError as exc:
                log.warning("discord: could not show reply to %s: %s", event.identity, exc.reason)
                return

    def _interaction_answer(
        self, interaction: discord.Interaction, event: ChatEvent
    ) -> Callable[[Reply | None], Awaitable[None]]:
        async def answer(reply: Reply | None) -> None:
            await self._answer(interaction, event, reply)

        return answer

    async def _on_command(self, interaction: discord.Interaction, name: str, args: str) -> None:
        event = CommandEvent(**self._common(interaction), name=name, args=args)
        # Acknowledged with an ephemeral "thinking" placeholder (type 5).
        await self._submit(
            event,
            self._interaction_answer(interaction, event),
            lambda: interaction.response.defer(ephemeral=True, thinking=True),
        )

    async def _on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type is discord.InteractionType.component:
            await self._on_press(interaction)
        elif interaction.type is discord.InteractionType.modal_submit:
            await self._on_reason(interaction)

    async def _on_press(self, interaction: discord.Interaction) -> None:
        data: dict[str, Any] = dict(interaction.data or {})
        action_id = str(data.get("custom_id", ""))
        if action_id.startswith(ASKS_REASON_PREFIX):
            title = _pressed_label(interaction.message, action_id)
            modal = self._reason_modal(action_id.removeprefix(ASKS_REASON_PREFIX), title)
            try:  # the modal is the acknowledgement; the decision comes with its submission
                await interaction.response.send_modal(modal)
            except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
                log.info("discord: reason modal for %s not shown: %s", interaction.id, map_error(exc).reason)
            return
        event = self._action_event(interaction, action_id, "")
        # type 6: deferred update of the pressed message
        await self._submit(event, self._interaction_answer(interaction, event), interaction.response.defer)

    @staticmethod
    def _reason_modal(action_id: str, decision: str = "") -> discord.ui.Modal:
        """The form that asks the reason for ``action_id`` (titled with the button's label)."""
        title = _label(f"{decision}: reason", MAX_MODAL_TITLE) if decision else "Reason"
        modal = discord.ui.Modal(title=title, custom_id=REASON_MODAL_PREFIX + action_id, timeout=None)
        modal.add_item(
            # Totara's reason for decision is optional (domain.md 3.2): an empty submit decides
            # without one.
            discord.ui.TextInput(
                label="Reason",
                custom_id=REASON_INPUT_ID,
                style=discord.TextStyle.paragraph,
                max_length=1000,
                required=False,
            )
        )
        modal.stop()  # the submission comes back through on_interaction, not a stored modal
        return modal

    async def _on_reason(self, interaction: discord.Interaction) -> None:
        data: dict[str, Any] = dict(interaction.data or {})
        custom_id = str(data.get("custom_id", ""))
        if not custom_id.startswith(REASON_MODAL_PREFIX):
            return
        reason = _find_value(data.get("components", []), REASON_INPUT_ID)
        action_id = custom_id.removeprefix(REASON_MODAL_PREFIX)
        event = self._action_event(interaction, action_id, reason)
        await self._submit(event, self._interaction_answer(interaction, event), interaction.response.defer)

    def _action_event(self, interaction: discord.Interaction, action_id: str, reason: str) -> ActionEvent:
        pressed = interaction.message
        ref = SentRef(room=str(pressed.channel.id), message_id=str(pressed.id)) if pressed else None
        return ActionEvent(**self._common(interaction), action_id=action_id, reason=reason, message=ref)

    async def _answer(self, interaction: discord.Interaction, event: ChatEvent, reply: Reply | None) -> None:
        """Show the core's reply to the person only (ephemeral follow-ups)."""
        try:
            if reply is not None and reply.replace is not None and isinstance(event, ActionEvent):
                post = reply.replace
                await interaction.edit_original_response(
                    content=post.text,
                    view=_button_view(post.actions) if post.actions else None,
                    allowed_mentions=_NO_MENTIONS,
                )
            texts = reply.texts if reply is not None else ()
            for i, text in enumerate(texts):
                actions = reply.actions if reply is not None and i == len(texts) - 1 else ()
                await interaction.followup.send(
                    text,
                    ephemeral=True,
                    allowed_mentions=_NO_MENTIONS,
                    view=_button_view(actions) if actions else discord.utils.MISSING,
                )
            if not texts and isinstance(event, CommandEvent):
                await interaction.delete_original_response()  # drop the "thinking" placeholder
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            log.warning("discord: could not answer interaction %s: %s", event.event_id, map_error(exc).reason)

    # -- outbound --------------------------------------------------------------------------

    async def _dm_channel(self, client: _BridgeClient, user_id: str) -> str:
        """The person's DM channel id, opened once: two sends to one person at the same
        moment (a notice and an item in different lanes) share one ``create_dm``."""
        cached = self._dm_channels.get(user_id)
        if cached is not None:
            return cached
        async with self._dm_opening.setdefault(user_id, asyncio.Lock()):
            cached = self._dm_channels.get(user_id)
            if cached is None:
                channel = await client.create_dm(discord.Object(id=int(user_id)))  # POST /users/@me/channels
                cached = self._dm_channels[user_id] = str(channel.id)
        self._dm_opening.pop(user_id, None)
        return cached

    @staticmethod
    def _partial(client: _BridgeClient, ref: SentRef) -> discord.PartialMessage:
        channel = client.get_partial_messageable(int(ref.room), type=discord.ChannelType.private)
        return channel.get_partial_message(int(ref.message_id))

    async def send(self, dest: Destination, post: Post) -> SentRef:
        """Post into the person's DM channel (opened and cached on first use)."""
        client = self._require_client()
        try:
            room = dest.room or await self._dm_channel(client, dest.identity.user_id)
            channel = client.get_partial_messageable(int(room), type=discord.ChannelType.private)
            options: dict[str, Any] = {"allowed_mentions": _NO_MENTIONS}
            if post.actions:
                options["view"] = _button_view(post.actions)
            if post.reply_to:
                options["reference"] = discord.MessageReference(
                    message_id=int(post.reply_to), channel_id=int(room), fail_if_not_exists=False
                )
            message = await channel.send(post.text, **options)
        except Exception as exc:
            raise map_error(exc) from exc
        return SentRef(room=str(message.channel.id), message_id=str(message.id))

    async def find_sent(self, dest: Destination, post: Post, since: float) -> SentRef | None:
        """The bot's own message with this post's text in the person's DM since ``since``:
        GET /channels/{dm}/messages with ``after`` the snowflake of that moment (less a
        second between the two clocks), which answers the 100 messages just after it."""
        client = self._require_client()
        after = discord.utils.time_snowflake(datetime.fromtimestamp(max(0.0, since - 1), UTC))
        try:
            room = dest.room or await self._dm_channel(client, dest.identity.user_id)
            messages = await client.http.logs_from(int(room), HISTORY_PAGE, after=after)
        except Exception as exc:
            raise map_error(exc) from exc
        me = str(client.user.id) if client.user is not None else None  # set at login, before any send
        for message in messages:
            if str(message["author"]["id"]) == me and message.get("content") == post.text:
                return SentRef(room=room, message_id=str(message["id"]))
        return None

    async def edit(self, dest: Destination, ref: SentRef, post: Post) -> None:
        """Replace text and buttons (no actions: ``components: []`` retires the buttons).
        ``dest`` is unused: ``ref`` holds the DM channel and message ids."""
        client = self._require_client()
        try:
            await self._partial(client, ref).edit(
                content=post.text,
                view=_button_view(post.actions) if post.actions else None,
                allowed_mentions=_NO_MENTIONS,
            )
        except Exception as exc:
            raise map_error(exc) from exc

    async def delete(self, dest: Destination, ref: SentRef) -> None:
        """Delete a message the bot sent (``dest`` unused, as in ``edit``)."""
        client = self._require_client()
        try:
            await self._partial(client, ref).delete()
        except Exception as exc:
            raise map_error(exc) from exc


def _find_value(components: Any, custom_id: str) -> str:
    """The value of the text input ``custom_id`` in a modal submission (rows or labels)."""
    if isinstance(components, list):
        for item in components:
            found = _find_value(item, custom_id)
            if found:
                return found
    elif isinstance(components, dict):
        if components.get("custom_id") == custom_id and "value" in components:
            return str(components["value"])
        for key in ("components", "component"):
            if key in components:
                found = _find_value(components[key], custom_id)
                if found:
                    return found
    return ""
