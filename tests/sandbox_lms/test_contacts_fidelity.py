"""The contact, block, mute and privacy calls the bridge's ``contacts`` commands make, as a
person with their own token, answer as the stock Moodle 4.5.11+ site did
(moodle-4.5-observed.md items 9, 23, 25, 27 and 28; lms-api.md 2.2-2.4)."""

from __future__ import annotations

from typing import Any

from sandbox.lms import DemoSeed, SandboxLMS

from .conftest import Client, is_error
from .test_observed_18_30 import REFUSED, send


async def members(client: Client, token: str, ref: int, *userids: int) -> list[dict[str, Any]]:
    found = await client.call(
        token, "core_message_get_member_info", referenceuserid=ref, userids=list(userids), includecontactrequests=True
    )
    return list(found)


async def test_a_sent_request_shows_in_the_member_record_until_answered(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    """Moodle has no "sent requests" function: the requester sees the pending request in the
    member record of the person asked (``includecontactrequests``)."""
    sam, alex = lms.issue_token(seed.mentee1_id), lms.issue_token(seed.mentee2_id)
    await client.call(sam, "core_message_create_contact_request", userid=seed.mentee1_id,
                      requesteduserid=seed.mentee2_id)
    [record] = await members(client, sam, seed.mentee1_id, seed.mentee2_id)
    assert [(r["userid"], r["requesteduserid"]) for r in record["contactrequests"]] == [
        (seed.mentee1_id, seed.mentee2_id)
    ]
    assert record["iscontact"] is False
    # The one asked sees the requester among get_contact_requests (observed 9c: users).
    received = await client.call(alex, "core_message_get_contact_requests", userid=seed.mentee2_id)
    assert [u["id"] for u in received] == [seed.mentee1_id]
    await client.call(alex, "core_message_decline_contact_request", userid=seed.mentee1_id,
                      requesteduserid=seed.mentee2_id)
    [record] = await members(client, sam, seed.mentee1_id, seed.mentee2_id)
    assert record["contactrequests"] == [] and record["iscontact"] is False


async def test_only_the_person_asked_may_answer_a_request(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    sam = lms.issue_token(seed.mentee1_id)
    await client.call(sam, "core_message_create_contact_request", userid=seed.mentee1_id,
                      requesteduserid=seed.mentee2_id)
    body = await client.call(sam, "core_message_confirm_contact_request", userid=seed.mentee1_id,
                             requesteduserid=seed.mentee2_id)
    assert is_error(body, "nopermissions")
    assert await client.call(sam, "core_message_get_user_contacts", userid=seed.mentee1_id) == []


async def test_deleting_a_contact_ends_it_for_both(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    sam, alex = lms.issue_token(seed.mentee1_id), lms.issue_token(seed.mentee2_id)
    lms.add_contact(seed.mentee1_id, seed.mentee2_id)
    assert await client.call(sam, "core_message_delete_contacts", userids=[seed.mentee2_id],
                             userid=seed.mentee1_id) is None
    assert await client.call(sam, "core_message_get_user_contacts", userid=seed.mentee1_id) == []
    assert await client.call(alex, "core_message_get_user_contacts", userid=seed.mentee2_id) == []


async def test_a_block_refuses_with_a_reason_naming_nobody_until_lifted(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    sam, alex = lms.issue_token(seed.mentee1_id), lms.issue_token(seed.mentee2_id)
    assert await client.call(sam, "core_message_block_user", userid=seed.mentee1_id,
                             blockeduserid=seed.mentee2_id) == []
    refused = await send(client, alex, seed.mentee1_id, "hello?")
    assert refused["msgid"] == -1 and refused["errormessage"] == REFUSED  # item 25
    [record] = await members(client, sam, seed.mentee1_id, seed.mentee2_id)
    assert record["isblocked"] is True
    assert await client.call(sam, "core_message_unblock_user", userid=seed.mentee1_id,
                             unblockeduserid=seed.mentee2_id) == []
    assert (await send(client, alex, seed.mentee1_id, "hello again"))["msgid"] > 0


async def test_blocknoncontacts_values_and_the_site_switch(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    """0 course members, 1 contacts only (item 27), 2 anyone, which reads back as 0 where the
    site does not allow messaging all users; any other value is refused."""
    sam = lms.issue_token(seed.mentee1_id)

    async def privacy(value: str) -> int:
        await client.call(sam, "core_user_update_user_preferences", userid=seed.mentee1_id,
                          preferences=[{"type": "message_blocknoncontacts", "value": value}])
        prefs = await client.call(sam, "core_message_get_user_message_preferences", userid=seed.mentee1_id)
        return int(prefs["blocknoncontacts"])

    assert await privacy("1") == 1
    assert await privacy("0") == 0
    lms.set_config(messagingallusers=False)
    assert await privacy("2") == 0
    got = await client.call(sam, "core_user_get_user_preferences", name="message_blocknoncontacts")
    assert got["preferences"] == [{"name": "message_blocknoncontacts", "value": "2"}]  # stored as asked
    lms.set_config(messagingallusers=True)
    prefs = await client.call(sam, "core_message_get_user_message_preferences", userid=seed.mentee1_id)
    assert prefs["blocknoncontacts"] == 2
    bad = await client.call(sam, "core_user_update_user_preferences", userid=seed.mentee1_id,
                            preferences=[{"type": "message_blocknoncontacts", "value": "7"}])
    assert is_error(bad, "invalidparameter")
    other = await client.call(sam, "core_user_update_user_preferences", userid=seed.mentee2_id,
                              preferences=[{"type": "message_blocknoncontacts", "value": "1"}])
    assert is_error(other, "nopermissions")


async def test_mute_shows_in_the_listing_and_unmute_lifts_it(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    sam = lms.issue_token(seed.mentee1_id)
    args = {"userid": seed.mentee1_id, "conversationids": [seed.group_conversation_id]}
    assert await client.call(sam, "core_message_mute_conversations", **args) == []

    async def muted() -> bool:
        listing = await client.call(sam, "core_message_get_conversations", userid=seed.mentee1_id, type=2)
        [conv] = [c for c in listing["conversations"] if c["id"] == seed.group_conversation_id]
        return bool(conv["ismuted"])

    assert await muted() is True
    assert await client.call(sam, "core_message_unmute_conversations", **args) == []
    assert await muted() is False
    outsider = lms.create_user("outsider")
    body = await client.call(lms.issue_token(outsider), "core_message_mute_conversations", userid=outsider,
                             conversationids=[seed.group_conversation_id])
    assert "exception" in body


async def test_notification_preferences_follow_the_outputs_set(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    """Item 28: per provider, the three outputs; switching "Mobile" off shows as enabled false."""
    sam = lms.issue_token(seed.mentee1_id)
    await client.call(sam, "core_user_update_user_preferences", userid=seed.mentee1_id, preferences=[
        {"type": "message_provider_mod_forum_posts_enabled", "value": "popup,email"}])
    prefs = await client.call(sam, "core_message_get_user_notification_preferences", userid=seed.mentee1_id)
    forum = next(c for c in prefs["preferences"]["components"] if c["displayname"] == "Forum")
    posts = next(n for n in forum["notifications"] if n["preferencekey"] == "message_provider_mod_forum_posts")
    assert {p["name"]: p["enabled"] for p in posts["processors"]} == {
        "popup": True, "email": True, "airnotifier": False}
    await client.call(sam, "core_user_update_user_preferences", userid=seed.mentee1_id, emailstop=1)
    prefs = await client.call(sam, "core_message_get_user_notification_preferences", userid=seed.mentee1_id)
    assert prefs["preferences"]["disableall"] == 1
