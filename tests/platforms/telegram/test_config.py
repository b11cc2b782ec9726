"""Telegram settings as an operator writes them, and how they reach the adapter."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.telegram import TelegramAdapter
from bridge.adapter_registry import build_adapters
from bridge.config import ConfigError, load_settings
from bridge.model import Platform
from tests.e2e.harness import SECRET_KEY


def settings(**telegram: Any) -> Any:
    return load_settings(
        None,
        lms={"url": "http://127.0.0.1:9"},
        store={"token_key": SECRET_KEY},
        web={"public_url": "https://bridge.example:8443/"},
        telegram={"enabled": True, "token": "1:x", **telegram},
    )


@pytest.mark.parametrize("secret", ["has space", "", "x" * 257, "ünïcode"])
def test_a_webhook_secret_telegram_would_refuse_is_a_config_error(secret: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings(mode="webhook", webhook_secret=secret)
    assert info.value.problems == [
        "telegram.webhook_secret: must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)"
    ]
    assert secret not in str(info.value) or not secret  # the secret itself is never echoed


def test_webhook_mode_reaches_the_adapter_at_the_public_url() -> None:
    adapter = build_adapters(settings(mode="webhook", webhook_secret="Ok_secret-1"))[Platform.TELEGRAM]
    assert isinstance(adapter, TelegramAdapter)
    assert adapter.mode == "webhook"
    assert adapter.webhook_url == "https://bridge.example:8443/telegram/webhook"
    assert [route.path for route in adapter.web_routes()] == ["/telegram/webhook"]


def test_webhook_mode_without_a_secret_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="webhook_secret is required in webhook mode"):
        settings(mode="webhook")
