"""Settings from the file and the environment, as an operator writes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import load_settings
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
