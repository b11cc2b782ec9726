"""The Discord adapter (discord.py), a package: ``adapter`` holds the class."""

from adapters.discord.adapter import MAX_RATELIMIT_WAIT, DiscordAdapter
from adapters.discord.inbound import readable_content

__all__ = ["MAX_RATELIMIT_WAIT", "DiscordAdapter", "readable_content"]
