"""The Microsoft Teams adapter (Microsoft 365 Agents SDK), a package: ``adapter`` holds the class."""

from adapters.teams.adapter import TeamsAdapter, app_manifest, build_connections, card_text, command_list, typed_text

__all__ = ["TeamsAdapter", "app_manifest", "build_connections", "card_text", "command_list", "typed_text"]
