"""The discord.py client, wired to the adapter's handlers."""

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

if TYPE_CHECKING:
    from adapters.discord.adapter import DiscordAdapter


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
