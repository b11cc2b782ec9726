"""Fail loudly if the python-telegram-bot seams the adapter and its tests rely on change.

An upgrade that drops one of these would otherwise show up as a hang (talking to the real
api.telegram.org, unreachable here) or as silently different behaviour.
"""

from __future__ import annotations

import inspect

import telegram
from telegram import InlineKeyboardButton, Update
from telegram.error import Conflict, RetryAfter
from telegram.ext import Application, ApplicationBuilder, Updater
from telegram.ext._utils import networkloop

from adapters.telegram import TelegramAdapter


def test_pinned_version() -> None:
    assert telegram.__version__ == "22.8"


def test_builder_redirection_and_updaterless_application() -> None:
    builder = ApplicationBuilder()
    for knob in ("token", "base_url", "base_file_url", "updater"):
        assert callable(getattr(builder, knob)), knob
    app = builder.token("1:x").base_url("http://127.0.0.1:9/bot").updater(None).build()
    assert app.updater is None
    assert app.bot.base_url == "http://127.0.0.1:9/bot1:x"  # token appended, as the sandbox routes
    assert app.bot.rate_limiter is None  # no SDK-side 429 retries: the core paces


def test_adapter_points_ptb_at_the_given_urls() -> None:
    adapter = TelegramAdapter(
        token="1:x", base_url="http://127.0.0.1:9/bot", base_file_url="http://127.0.0.1:9/file/bot"
    )
    assert adapter.bot.base_url == "http://127.0.0.1:9/bot1:x"
    assert adapter.bot.base_file_url == "http://127.0.0.1:9/file/bot1:x"


def test_polling_error_callback_seam() -> None:
    params = inspect.signature(Updater.start_polling).parameters
    for name in ("timeout", "allowed_updates", "error_callback"):
        assert name in params, name
    # Conflict is a TelegramError handed to the callback by PTB's retry loop (not re-raised).
    source = inspect.getsource(networkloop.network_retry_loop)
    assert "on_err_cb(telegram_exc)" in source
    assert issubclass(Conflict, telegram.error.TelegramError)


def test_webhook_feeding_seams() -> None:
    assert hasattr(Application, "update_queue")
    assert callable(Update.de_json)
    update = Update.de_json({"update_id": 5}, None)
    assert update is not None and update.update_id == 5


def test_button_style_and_retry_after() -> None:
    button = InlineKeyboardButton("A", callback_data="a", style="danger")
    assert button.to_dict() == {"text": "A", "callback_data": "a", "style": "danger"}
    assert "retry_after" in dir(RetryAfter)
