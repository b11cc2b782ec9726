"""Microsoft Graph, for what the Bot Connector does not tell a bot: who owns a team.

``GET /v1.0/teams/{team-id}/members`` lists the team's ``conversationMember`` objects;
an owner's ``roles`` contains ``"owner"``. The team id is the team's Microsoft Entra group
id (``channelData.team.aadGroupId`` on a channel activity). With an app token the call needs
the resource-specific permission ``TeamMember.Read.Group``, which the team grants when the
app (its manifest asks for it) is installed; without it Graph answers 403.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from microsoft_agents.hosting.core.authorization import Connections

GRAPH_URL = "https://graph.microsoft.com"
MEMBERS_PERMISSION = "TeamMember.Read.Group"


class GraphRefused(Exception):
    """Graph refused the call (403): the team has not granted ``MEMBERS_PERMISSION``."""


async def team_owners(connections: Connections, graph_url: str, aad_group_id: str, timeout: float) -> set[str]:
    """The Entra object ids of the team's owners; ``GraphRefused`` on a 403, an
    ``aiohttp.ClientError`` on any other failure."""
    base = graph_url.rstrip("/")
    token = await connections.get_default_connection().get_access_token(base, [f"{base}/.default"])
    url = f"{base}/v1.0/teams/{aad_group_id}/members"
    owners: set[str] = set()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        while url:
            async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as resp:
                if resp.status == 403:
                    raise GraphRefused(f"Microsoft Graph needs {MEMBERS_PERMISSION} for this team (403)")
                resp.raise_for_status()
                page: dict[str, Any] = await resp.json()
            owners |= {str(m["userId"]) for m in page.get("value", []) if "owner" in (m.get("roles") or [])}
            url = str(page.get("@odata.nextLink") or "")  # Graph pages long member lists
    return owners
