"""Secrets never reach the log: one filter on the root logger's handlers masks every
configured secret and every token-shaped value, and the chattiest libraries (HTTP clients,
chat SDKs, SQL) stay at INFO or above, where they log neither request bodies (message
text) nor SQL parameters, unless the operator opts in with ``log.trace``.

The filter sits on the handlers, not on the root logger itself: a logger's filters see only
records logged on that very logger, while a handler's see every record it writes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bridge.config import Settings

log = logging.getLogger(__name__)

MASK = "[redacted]"

# Long runs of token characters with a digit in them: Moodle tokens (32 hex), Slack and
# Discord tokens, JWT parts, Discord interaction tokens, Telegram bot tokens after the colon.
# Canonical UUIDs (Teams tenants and users) are identifiers, not secrets, and stay.
_TOKEN_SHAPED = re.compile(r"(?<![A-Za-z0-9_-])(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{20,}(?![A-Za-z0-9_-])")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# The store's schema revisions (bridge/store/migrations/versions: 0007_inbound_journal) are
# names in the start-up log: four digits and lower-case words, nothing a token looks like.
_REVISION = re.compile(r"\d{4}(?:_[a-z]+)+")
# One-time link codes wherever they show: sign-in addresses, deep links, "link CODE".
_LINK_CODE = re.compile(r"((?:/link/|[?&]start=|\blink\s+|/start\s+))[A-Za-z0-9_-]{16,}")

# Libraries that log request bodies, message text or SQL parameters at DEBUG.
QUIET_LOGGERS = (
    "aiohttp",
    "aiosqlite",
    "alembic",
    "asyncio",
    "asyncpg",
    "discord",
    "httpcore",
    "httpx",
    "microsoft_agents",
    "msal",
    "slack_bolt",
    "slack_sdk",
    "sqlalchemy",
    "telegram",
    "urllib3",
    "websockets",
)


def _mask_token(match: re.Match[str]) -> str:
    text = match.group(0)
    return text if _UUID.fullmatch(text) or _REVISION.fullmatch(text) else MASK


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message and arguments, and in exception text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """``text`` with every known secret and token-shaped value masked."""
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        text = _LINK_CODE.sub(lambda m: m.group(1) + MASK, text)
        return _TOKEN_SHAPED.sub(_mask_token, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what there is, masked
            message = str(record.msg)
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def configured_secrets(settings: Settings) -> list[str]:
    """Every secret value in the settings (tokens, passwords, signing and webhook secrets)."""
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif hasattr(value, "__pydantic_fields__"):
            for name in type(value).__pydantic_fields__:
                walk(getattr(value, name))

    walk(settings)
    try:  # a PostgreSQL URL may carry its password
        password = make_url(settings.store.url).password
    except ArgumentError:
        password = None
    if password:
        found.append(str(password))
    return found


def install(settings: Settings, root: logging.Logger | None = None) -> RedactingFilter:
    """Put the redacting filter on every handler of the root logger and keep the chatty
    libraries at INFO unless ``settings.log.trace``; returns the filter."""
    root = root or logging.getLogger()
    redactor = RedactingFilter(configured_secrets(settings))
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(redactor)
    if not settings.log.trace:
        for name in QUIET_LOGGERS:
            logger = logging.getLogger(name)
            if logger.getEffectiveLevel() < logging.INFO:
                logger.setLevel(logging.INFO)
        # SQLAlchemy logs statements at INFO and their parameters with them.
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    log.debug(
        "log redaction on for %d configured secrets; libraries at %s",
        len(redactor.secrets),
        "DEBUG (log.trace)" if settings.log.trace else "INFO",
    )
    return redactor
