"""The redacting log filter (issue 13, item 4) on real log records through a real handler."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bridge.config import load_settings
from bridge.redaction import MASK, install
from tests.e2e.harness import SECRET_KEY

DISCORD_INTERACTION_TOKEN = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OTA6QWJDZEVmR2hJams"
MOODLE_TOKEN = "0f3c9d2b7a1e4c6d8b9a0f1e2d3c4b5a"


@pytest.fixture
def root() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """An isolated logger tree root with one stream handler, as basicConfig would make."""
    out = io.StringIO()
    logger = logging.getLogger("redaction-test-root")
    handler = logging.StreamHandler(out)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield logger, out
    logger.removeHandler(handler)


def test_configured_and_token_shaped_secrets_are_masked(root: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = root
    settings = load_settings(
        None,
        lms={"url": "https://pluto.example", "token": "operator-token"},
        store={"token_key": SECRET_KEY, "url": "postgresql+asyncpg://bridge:pg-Passw0rd@db/bridge"},
        slack={"enabled": True, "signing_secret": "s1gning", "workspaces": {"T1": "xoxb-1-abcdef"}},
        log_level="DEBUG",
    )
    install(settings, logger)
    child = logging.getLogger("redaction-test-root.child")  # records of child loggers pass the handler
    child.debug("slack token %s secret %s", "xoxb-1-abcdef", "s1gning")
    child.debug("interaction %s and wstoken=%s", DISCORD_INTERACTION_TOKEN, MOODLE_TOKEN)
    child.info("open http://127.0.0.1:8080/link/AbcDefGhiJklMnoPqrStuv or t.me/bot?start=AbcDefGhiJklMnoPqrStuv")
    child.info("db at postgresql://bridge:pg-Passw0rd@db and key %s", SECRET_KEY)
    child.info("tenant 72f988bf-0000-0000-0000-00000000beef stays, core_message_get_conversations stays")
    child.info("Running upgrade 0006_api -> 0007_inbound_journal")  # alembic's own line at start
    try:
        raise RuntimeError(f"failed with {MOODLE_TOKEN}")
    except RuntimeError:
        child.exception("boom")
    text = out.getvalue()
    for secret in ("xoxb-1-abcdef", "s1gning", DISCORD_INTERACTION_TOKEN, MOODLE_TOKEN, "AbcDefGhiJklMnoPqrStuv",
                   "pg-Passw0rd", SECRET_KEY, "operator-token"):
        assert secret not in text, secret
    assert text.count(MASK) >= 8
    assert "72f988bf-0000-0000-0000-00000000beef" in text and "core_message_get_conversations" in text
    assert "0006_api -> 0007_inbound_journal" in text
    assert "RuntimeError: failed with" in text


def test_json_log_lines_are_masked_too(root: tuple[logging.Logger, io.StringIO]) -> None:
    """log.format = "json" formats the traceback itself: it must take the masked one."""
    from bridge.log_format import JsonFormatter

    logger, out = root
    logger.handlers[0].setFormatter(JsonFormatter())
    install(load_settings(None, lms={"url": "https://pluto.example"}, store={"token_key": SECRET_KEY}), logger)
    try:
        raise RuntimeError(f"failed with {MOODLE_TOKEN}")
    except RuntimeError:
        logging.getLogger("redaction-test-root.json").exception("boom with %s", DISCORD_INTERACTION_TOKEN)
    line = out.getvalue()
    assert MOODLE_TOKEN not in line and DISCORD_INTERACTION_TOKEN not in line
    assert '"exception": "Traceback' in line and MASK in line
