"""Teams identity comes from what Teams vouches for, never from the activity body alone
(issue 13, item 2): only the msteams channel, signed by a key endorsed for it, from the
configured tenant, with the sender's Entra object id as the identity."""

from __future__ import annotations

from bridge.model import Platform
from sandbox.teams import SandboxTeams, TokenSwitches
from tests.platforms.teams.conftest import Bot


async def _refused(bot: Bot, sandbox: SandboxTeams, activity: dict[str, object], **switches: bool) -> int:
    status, _ = await sandbox.push(activity, switches=TokenSwitches(**switches) if switches else None)
    user = sandbox.add_user("Afterwards")
    genuine = sandbox.message(user, "hello")
    assert (await sandbox.push(genuine))[0] == 202
    events = await bot.sink.wait_for(1)
    assert [e.event_id for e in events] == [genuine["id"]], "only the genuine activity reaches the core"
    return status


async def test_an_activity_of_another_channel_is_refused(bot: Bot, sandbox: SandboxTeams) -> None:
    activity = sandbox.message(sandbox.add_user("Mallory"), "link")
    activity["channelId"] = "webchat"  # Web Chat lets the client choose from.id
    assert await _refused(bot, sandbox, activity, webchat_key=True) == 403


async def test_a_key_not_endorsed_for_msteams_is_refused(bot: Bot, sandbox: SandboxTeams) -> None:
    activity = sandbox.message(sandbox.add_user("Mallory"), "link")
    assert await _refused(bot, sandbox, activity, webchat_key=True) == 401


async def test_an_activity_of_another_tenant_is_refused(bot: Bot, sandbox: SandboxTeams) -> None:
    activity = sandbox.message(sandbox.add_user("Mallory"), "link")
    activity["conversation"]["tenantId"] = "00000000-0000-0000-0000-0000000e0e0e"
    activity["channelData"] = {"tenant": {"id": "00000000-0000-0000-0000-0000000e0e0e"}}
    assert await _refused(bot, sandbox, activity) == 403


async def test_a_sender_without_an_entra_object_id_is_refused(bot: Bot, sandbox: SandboxTeams) -> None:
    victim = sandbox.add_user("Victim")
    activity = sandbox.message(sandbox.add_user("Mallory"), "status")
    activity["from"] = {"id": victim.id, "name": "Victim"}  # from.id alone, no aadObjectId
    assert await _refused(bot, sandbox, activity) == 403


async def test_the_identity_is_the_entra_object_id_in_the_tenant(bot: Bot, sandbox: SandboxTeams) -> None:
    sam = sandbox.add_user("Sam")
    assert (await sandbox.push(sandbox.message(sam, "hello")))[0] == 202
    (event,) = await bot.sink.wait_for(1)
    assert event.identity.platform is Platform.TEAMS
    assert (event.identity.workspace, event.identity.user_id) == (sandbox.tenant_id, sam.aad_object_id)
