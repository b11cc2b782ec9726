"""Inbound Discord: DMs, ``/pluto <subcommand>`` interactions, button presses and reason
modals become ``Interaction`` values for the core's runner; answers go ephemeral."""

import asyncio
import functools
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

import aiohttp
import discord
from discord import app_commands

from adapters.discord.errors import map_error
from adapters.discord.outbound import DiscordOutbound
from adapters.discord.rooms_address import room_of
from adapters.discord.views import (
    _NO_MENTIONS,
    ASKS_REASON_PREFIX,
    MAX_MODAL_TITLE,
    _button_view,
    _label,
    _pressed_label,
)
from adapters.readable import readable_time
from bridge.inbound.interaction import Interaction
from bridge.inbound.runner import Runner
from bridge.model import (
    COMMANDS,
    ActionEvent,
    ChatEvent,
    ChatIdentity,
    CommandEvent,
    CommandSpec,
    ContactEvent,
    Destination,
    MessageEvent,
    Platform,
    Post,
    Reply,
    SentRef,
)

log = logging.getLogger(__name__)

REASON_MODAL_PREFIX = "pluto-reason:"
REASON_INPUT_ID = "reason"
# Backslash escapes of Discord markdown that a person may type; undone for plain text.
ACK_DEADLINE = 3.0  # seconds Discord waits for an interaction's acknowledgement


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


class DiscordInbound(DiscordOutbound):
    """The adapter's receiving half: commands, events, presses and the answers shown."""

    _inbound: Runner | None
    _command_name: str
    _may_manage: dict[tuple[str, str], bool]  # (channel id, user id) -> Manage Channels there

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
        shared = room_of(channel) if isinstance(channel, discord.TextChannel | discord.Thread) else None
        return {
            "shared": shared,
            "identity": ChatIdentity(Platform.DISCORD, "", str(user.id)),
            "event_id": str(interaction.id),
            "room": str(interaction.channel_id),
            "display_name": user.display_name,
            "is_private": is_dm,
            "handle": user.name,
            "workspace_name": interaction.guild.name if interaction.guild is not None else "",
            "picture_url": user.display_avatar.url,
        }

    def _note_permissions(self, interaction: discord.Interaction) -> None:
        """Remember what Discord computed for the person in this channel."""
        if interaction.guild_id is not None and interaction.channel_id is not None:
            channel = interaction.channel
            room_id = channel.parent_id if isinstance(channel, discord.Thread) else interaction.channel_id
            key = (str(room_id), str(interaction.user.id))
            self._may_manage[key] = interaction.permissions.manage_channels

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
        if isinstance(message.channel, discord.TextChannel | discord.Thread):
            await self._on_room_message(message, message.channel)
            return
        if message.guild is not None or not isinstance(message.channel, discord.DMChannel):
            return  # elsewhere only the person's DM with the bot is relayed
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

    async def _on_room_message(self, message: discord.Message, channel: discord.TextChannel | discord.Thread) -> None:
        """A person wrote in a guild text channel (or a thread in one: a reply there)."""
        if message.webhook_id is not None or message.type not in (
            discord.MessageType.default,
            discord.MessageType.reply,
        ):
            return  # our own webhook posts, other integrations, joins, pins
        text = _plain_text(message)
        if not text.strip():
            return
        reference = message.reference.message_id if message.reference else None
        event = MessageEvent(
            identity=ChatIdentity(Platform.DISCORD, "", str(message.author.id)),
            event_id=str(message.id),
            room=str(channel.id),
            display_name=message.author.display_name,
            is_private=False,
            shared=room_of(channel),
            text=text,
            reply_to=str(reference) if reference else None,
            # A thread started from a relayed post has that post's id.
            thread=str(channel.id) if isinstance(channel, discord.Thread) else None,
        )
        await self._submit(event, functools.partial(self._show_privately, event))

    async def _show_privately(self, event: ChatEvent, reply: Reply | None) -> None:
        """What the core answers to a room message goes to the person's DM, never the room."""
        await self._show_in_dm(replace(event, room=""), reply)

    @staticmethod
    async def _no_answer(reply: Reply | None) -> None:
        """For events nobody waits on (the bot removed from a server)."""

    async def _show_in_dm(self, event: ChatEvent, reply: Reply | None) -> None:
        """No ephemeral messages outside interactions: answer in the DM itself, as the
        runner's front-of-lane deliveries. Interaction answers (``_answer``) stay immediate:
        they must use the interaction's token."""
        if reply is None:
            return
        dest = Destination(identity=event.identity, room=event.room or None)
        posts = [Post(text=t) for t in reply.texts]
        if posts and reply.actions:
            posts[-1] = Post(text=posts[-1].text, actions=reply.actions)
        runner = self._inbound
        if runner is None:
            return
        for post in posts:  # front-of-lane deliveries: paced and retried by the core's policy
            if await runner.deliver(event.identity, functools.partial(self.send, dest, post)) is None:
                return

    def _interaction_answer(
        self, interaction: discord.Interaction, event: ChatEvent
    ) -> Callable[[Reply | None], Awaitable[None]]:
        async def answer(reply: Reply | None) -> None:
            await self._answer(interaction, event, reply)

        return answer

    async def _on_command(self, interaction: discord.Interaction, name: str, args: str) -> None:
        self._note_permissions(interaction)
        event = CommandEvent(**self._common(interaction), name=name, args=args)
        # Acknowledged with an ephemeral "thinking" placeholder (type 5).
        await self._submit(
            event,
            self._interaction_answer(interaction, event),
            lambda: interaction.response.defer(ephemeral=True, thinking=True),
        )

    async def _on_interaction(self, interaction: discord.Interaction) -> None:
        self._note_permissions(interaction)
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
