"""The Slack adapter (Bolt for Python), a package: ``adapter`` holds the class."""

from adapters.slack.adapter import (
    SlackAdapter,
    app_manifest,
    build_blocks,
    notification_text,
    slash_command,
    to_plain_text,
)

__all__ = ["SlackAdapter", "app_manifest", "build_blocks", "notification_text", "slash_command", "to_plain_text"]
