"""The Telegram adapter (python-telegram-bot), a package: ``adapter`` holds the class."""

from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.outbound import ASKS_REASON_PREFIX

__all__ = ["ASKS_REASON_PREFIX", "TelegramAdapter"]
