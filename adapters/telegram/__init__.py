"""The Telegram adapter (python-telegram-bot), a package: ``adapter`` holds the class."""

from adapters.telegram.adapter import ASKS_REASON_PREFIX, TelegramAdapter

__all__ = ["ASKS_REASON_PREFIX", "TelegramAdapter"]
