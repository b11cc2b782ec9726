"""Every forged inbound token is refused with 401 and reaches nothing."""

from __future__ import annotations

import pytest

from bridge.model import MessageEvent
from sandbox.teams import SandboxTeams, TokenSwitches
from tests.platforms.teams.conftest import Bot

FORGERIES = {
    "wrong_key": TokenSwitches(wrong_key=True),
    "wrong_audience": TokenSwitches(wrong_audience=True),
    "expired": TokenSwitches(expired=True),
    "serviceurl_mismatch": TokenSwitches(serviceurl_mismatch=True),
    "missing_header": TokenSwitches(missing_header=True),
    "wrong_issuer": TokenSwitches(wrong_issuer=True),
}


@pytest.mark.parametrize("name", sorted(FORGERIES))
async def test_forged_token_is_refused(bot: Bot, sandbox: SandboxTeams, name: str) -> None:
    user = sandbox.add_user("Mallory")
    forged = sandbox.message(user, "status")
    status, _ = await sandbox.push(forged, switches=FORGERIES[name])
    assert status == 401
    # A genuine activity afterwards is the only thing the core ever sees.
    genuine = sandbox.message(user, "hello")
    assert (await sandbox.push(genuine))[0] == 202
    events = await bot.sink.wait_for(1)
    assert [e.event_id for e in events] == [genuine["id"]]
    assert isinstance(events[0], MessageEvent)


async def test_invoke_with_forged_token_is_not_answered(bot: Bot, sandbox: SandboxTeams) -> None:
    user = sandbox.add_user("Mallory")
    invoke = sandbox.card_action(user, verb="pluto", data={"action": "x"}, reply_to_id="1")
    status, body = await sandbox.push(invoke, switches=TokenSwitches(wrong_key=True))
    assert status == 401
    assert "statusCode" not in (body or {})
    assert bot.sink.events == []


async def test_activity_claiming_other_service_url_is_refused(bot: Bot, sandbox: SandboxTeams) -> None:
    """The token is genuine for the sandbox's serviceUrl, the body points elsewhere."""
    user = sandbox.add_user("Mallory")
    activity = sandbox.message(user, "hi")
    token = sandbox.mint_token(service_url=sandbox.service_url)
    activity["serviceUrl"] = "http://127.0.0.1:9/evil/"
    from aiohttp import ClientSession

    async with ClientSession() as session:
        async with session.post(
            sandbox.bot_endpoint or "", json=activity, headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            assert resp.status == 401
    assert bot.sink.events == []
