"""Settings from the file and the environment, as an operator writes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import ConfigError, load_settings
from bridge.store.crypto import new_key


def test_slack_workspaces_from_the_environment_keep_their_team_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        f'[lms]\nurl = "http://127.0.0.1:9"\n[store]\ntoken_key = "{new_key()}"\n'
        '[slack]\nenabled = true\nsigning_secret = "s"\n[slack.workspaces]\nT0FILE = "xoxb-file"\n'
    )
    monkeypatch.setenv("PLUTO_BRIDGE_SLACK__WORKSPACES__T0123ABC", "xoxb-env")
    settings = load_settings(config)
    tokens = {team: token.get_secret_value() for team, token in settings.slack.workspaces.items()}
    assert tokens == {"T0123ABC": "xoxb-env", "T0FILE": "xoxb-file"}


@pytest.mark.parametrize(
    ("lms_url", "public_url", "refused"),
    [
        ("http://pluto.example", "https://bridge.example", ["lms.url"]),
        ("https://pluto.example", "http://bridge.example", ["web.public_url"]),
        ("http://10.0.0.5", "http://bridge.example:8080", ["lms.url", "web.public_url"]),
        ("http://127.0.0.1:9", "http://localhost:8080", []),
        ("http://[::1]:9", "https://bridge.example", []),
        ("https://pluto.example", "https://bridge.example", []),
    ],
)
def test_http_beyond_loopback_is_refused_unless_allowed(lms_url: str, public_url: str, refused: list[str]) -> None:
    """Issue 13, item 6: passwords and tokens never cross the network in clear by accident."""
    sections = {"lms": {"url": lms_url}, "store": {"token_key": new_key()}, "web": {"public_url": public_url}}
    if refused:
        with pytest.raises(ConfigError) as caught:
            load_settings(None, **sections)
        assert [p.split(":", 1)[0] for p in caught.value.problems] == refused
        assert all("allow_insecure_http = true" in p for p in caught.value.problems)
    else:
        load_settings(None, **sections)
    allowed = load_settings(None, **sections, allow_insecure_http=True)
    assert allowed.lms.url == lms_url


@pytest.mark.parametrize(
    ("push", "expected"),
    [
        ({"enabled": True}, "push: access_key is required when push is enabled (the site's airnotifieraccesskey)"),
        ({"path_prefix": "airnotifier"}, "push.path_prefix: must be a path such as /airnotifier (got 'airnotifier')"),
        ({"sweep_interval": 0}, "push.sweep_interval: Input should be greater than 0"),
    ],
)
def test_push_settings_name_the_problem(push: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, lms={"url": "http://127.0.0.1:9"}, store={"token_key": new_key()}, push=push)
    assert info.value.problems == [expected]


def test_push_prefix_loses_its_trailing_slash() -> None:
    settings = load_settings(
        None,
        lms={"url": "http://127.0.0.1:9"},
        store={"token_key": new_key()},
        push={"enabled": True, "access_key": "k", "path_prefix": "/an/"},
    )
    assert settings.push.path_prefix == "/an" and settings.push.access_key is not None
