"""Settings an operator gets wrong easily: the public URL's default, Telegram's webhook
rule, the management address, the log format; and the Docker health check that uses it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bridge.config import ConfigError, load_settings
from tests.e2e.harness import SECRET_KEY

ROOT = Path(__file__).resolve().parents[2]


def settings(**sections: Any) -> Any:
    return load_settings(None, lms={"url": "http://127.0.0.1:9"}, store={"token_key": SECRET_KEY}, **sections)


def test_public_url_follows_the_port_from_the_file_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings().web.public_url == "http://127.0.0.1:8080"
    assert settings(web={"port": 9000}).web.public_url == "http://127.0.0.1:9000"
    assert settings(web={"port": 9000, "public_url": "https://b.example/"}).web.public_url == "https://b.example"
    monkeypatch.setenv("PLUTO_BRIDGE_WEB__PORT", "9100")
    assert settings().web.public_url == "http://127.0.0.1:9100"


WEBHOOK = {"enabled": True, "token": "1:x", "mode": "webhook", "webhook_secret": "Ok_secret-1"}


@pytest.mark.parametrize("url", ["http://bridge.example", "https://bridge.example:8080", "http://127.0.0.1:8443"])
def test_telegram_webhook_needs_https_on_a_port_telegram_allows(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings(web={"public_url": url}, telegram=WEBHOOK)
    assert info.value.problems == [
        f"web.public_url: Telegram webhook mode needs an https:// address on port 443, 80, 88 or 8443 (got {url!r})"
    ]


@pytest.mark.parametrize("url", ["https://bridge.example", "https://bridge.example:88/tg", "https://b.example:8443"])
def test_telegram_webhook_on_an_allowed_address(url: str) -> None:
    assert settings(web={"public_url": url}, telegram=WEBHOOK).telegram.mode == "webhook"


def test_a_local_bot_api_server_takes_any_webhook_address() -> None:
    local = {**WEBHOOK, "base_url": "http://127.0.0.1:8081/bot"}
    assert settings(web={"public_url": "http://127.0.0.1:8080"}, telegram=local).telegram.base_url == local["base_url"]
    assert settings(telegram={**WEBHOOK, "mode": "polling"}).telegram.mode == "polling"  # polling: no rule


@pytest.mark.parametrize(
    ("value", "expected"), [("127.0.0.1:9090", ("127.0.0.1", 9090)), ("[::1]:9090", ("::1", 9090))]
)
def test_management_listen(value: str, expected: tuple[str, int]) -> None:
    assert settings(web={"management_listen": value}).web.management == expected
    assert settings().web.management is None


@pytest.mark.parametrize("value", ["9090", "localhost", "host:port", ":9090", "h:70000"])
def test_a_management_address_without_host_and_port_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings(web={"management_listen": value})
    assert info.value.problems == [f"web.management_listen: must be HOST:PORT, e.g. 127.0.0.1:9090 (got {value!r})"]


def test_log_format() -> None:
    assert settings().log.format == "text"
    assert settings(log={"format": "json"}).log.format == "json"
    with pytest.raises(ConfigError) as info:
        settings(log={"format": "xml"})
    assert info.value.problems[0].startswith("log.format: Input should be 'text' or 'json'")


def test_docker_health_check_asks_the_management_address() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    listen = re.search(r'PLUTO_BRIDGE_WEB__MANAGEMENT_LISTEN="[^"]*:(\d+)"', dockerfile)
    check = re.search(r"HEALTHCHECK .*http://127\.0\.0\.1:(\d+)/healthz", dockerfile)
    assert listen is not None and check is not None
    assert check.group(1) == listen.group(1)
    assert f"EXPOSE 8080 {listen.group(1)}" in dockerfile


def test_docker_image_installs_the_postgresql_driver() -> None:
    """Replicas need PostgreSQL: the image carries its driver whatever EXTRAS says."""
    install = re.search(r'RUN pip install .*"\.\[([^\]]*)\]"', (ROOT / "Dockerfile").read_text())
    assert install is not None and "postgres" in install.group(1).split(",")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(dep.startswith("asyncpg") for dep in extras["postgres"])
