"""A platform enabled without its SDK: the real CLI says which extra to install, exit 2.

The SDK is hidden from the bridge process only (a ``sitecustomize`` puts ``None`` in
``sys.modules`` for it, which makes ``import`` fail as if it were not installed); nothing
is uninstalled.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import bridge_config

# Platform, the SDK module hidden, its settings, and the extra the bridge must name.
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("telegram", "telegram", {"enabled": True, "token": "123:abc"}),
    ("slack", "slack_bolt", {"enabled": True, "workspaces": {"T1": "xoxb-1"}, "signing_secret": "s"}),
    ("discord", "discord", {"enabled": True, "token": "t", "application_id": "1"}),
    ("teams", "microsoft_agents", {"enabled": True, "app_id": "a", "app_password": "p"}),
]


def run_cli(tmp: Path, hidden: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m bridge ARGS`` with the ``hidden`` module (and its submodules) not importable."""
    site = tmp / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(f"import sys\nsys.modules[{hidden!r}] = None\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


@pytest.mark.parametrize(("platform", "hidden", "section"), CASES, ids=[c[0] for c in CASES])
def test_run_names_the_extra_when_the_sdk_is_missing(
    tmp_path: Path, platform: str, hidden: str, section: dict[str, Any]
) -> None:
    config, _ = bridge_config(tmp_path, "http://127.0.0.1:9", console={"enabled": False}, **{platform: section})
    done = run_cli(tmp_path, hidden, "run", "--config", str(config))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: {platform} is enabled but its SDK is not installed (no module {hidden!r}): "
        f'pip install "pluto-bridge[{platform}]"'
    ]


def test_manifest_names_the_extra_when_the_sdk_is_missing(tmp_path: Path) -> None:
    config, _ = bridge_config(tmp_path, "http://127.0.0.1:9")
    done = run_cli(tmp_path, "slack_bolt", "manifest", "slack", "--config", str(config))
    assert done.returncode == 2, done.stderr
    assert 'pip install "pluto-bridge[slack]"' in done.stderr
    assert done.stdout == ""


def test_a_missing_sdk_of_another_platform_does_not_matter(tmp_path: Path) -> None:
    """Only the platform asked for is imported: with Discord's SDK missing, the Teams
    manifest is still printed."""
    config, _ = bridge_config(tmp_path, "http://127.0.0.1:9", teams={"app_id": "app-1"})
    done = run_cli(tmp_path, "discord", "manifest", "teams", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert '"id": "app-1"' in done.stdout
