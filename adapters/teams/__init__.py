"""The Microsoft Teams adapter (Microsoft 365 Agents SDK), a package: ``adapter`` holds the class."""

from adapters.teams.adapter import TeamsAdapter
from adapters.teams.auth import build_connections
from adapters.teams.cards import card_text
from adapters.teams.inbound import typed_text
from adapters.teams.manifest import app_manifest, command_list

__all__ = ["TeamsAdapter", "app_manifest", "build_connections", "card_text", "command_list", "typed_text"]
