"""``python -m tests.platforms.teams.bridge_main TOKEN_ENDPOINT CONFIG``: ``pluto-bridge run`` whose
Teams adapter gets its outbound tokens from the sandbox's ``TOKEN_ENDPOINT``.

The same process as the real CLI's (``bridge.cli.serve``, the adapters built from the
settings); only the Teams SDK's ``Connections`` differ, because the production MSAL
manager cannot reach a sandbox (see ``tests.platforms.teams.sandbox_tokens``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from bridge.adapter_registry import build_adapters
from bridge.cli import serve
from bridge.config import load_settings
from bridge.model import Platform
from tests.platforms.teams.sandbox_tokens import sandbox_connections


def main(token_endpoint: str, config: str) -> int:
    """Run the bridge with ``config`` until signalled; the exit code."""
    settings = load_settings(Path(config))
    teams = settings.teams
    assert teams.app_id is not None and teams.app_password is not None, "Teams must be configured"
    tenants = [teams.tenant_id] if isinstance(teams.tenant_id, str) else list(teams.tenant_id or [])
    connections = sandbox_connections(
        app_id=teams.app_id,
        app_password=teams.app_password.get_secret_value(),
        tenant_id=tenants[0] if tenants else None,
        token_endpoint=token_endpoint,
    )
    return serve(settings, build_adapters(settings, {Platform.TEAMS: {"connections": connections}}))


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
