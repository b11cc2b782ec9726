"""The Slack adapter (Bolt for Python), a package: ``adapter`` holds the class."""

from adapters.slack.adapter import SlackAdapter
from adapters.slack.blocks import build_blocks, notification_text
from adapters.slack.inbound import to_plain_text
from adapters.slack.manifest import app_manifest, slash_command

__all__ = ["SlackAdapter", "app_manifest", "build_blocks", "notification_text", "slash_command", "to_plain_text"]
