"""Functions the bridge may lean on beyond the core loop: lookups, counts, preferences, formats."""

from __future__ import annotations

from sandbox.lms import DemoSeed, SandboxLMS

from .conftest import Client, is_error


async def test_conversation_between_users_and_by_id(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    token = lms.issue_token(seed.mentee1_id)
    missing = await client.call(
        token,
        "core_message_get_conversation_between_users",
        userid=seed.mentee1_id,
        otheruserid=seed.mentor_id,
    )
    assert is_error(missing, "errorconversationdoesnotexist")
    first = lms.post_message(seed.mentor_id, seed.mentee1_id, "one")
    lms.clock.advance(1)
    second = lms.post_message(seed.mentee1_id, seed.mentor_id, "two")
    conv = await client.call(
        token,
        "core_message_get_conversation_between_users",
        userid=seed.mentee1_id,
        otheruserid=seed.mentor_id,
        includeprivacyinfo=True,
    )
    assert conv["id"] == first["conversationid"] and conv["type"] == 1
    assert [m["id"] for m in conv["members"]] == [seed.mentor_id]
    assert conv["members"][0]["canmessage"] is True
    assert [m["id"] for m in conv["messages"]] == [second["msgid"], first["msgid"]]  # newest first by default
    by_id = await client.call(
        token,
        "core_message_get_conversation",
        userid=seed.mentee1_id,
        conversationid=conv["id"],
        newestmessagesfirst=False,
        messagelimit=1,
    )
    assert [m["id"] for m in by_id["messages"]] == [first["msgid"]]
    assert by_id["members"][0]["canmessage"] is None  # no privacy info unless asked


async def test_member_info_reflects_privacy_and_blocks(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    lms.set_preference(seed.mentee2_id, "message_blocknoncontacts", "1")
    lms.block(seed.mentee1_id, seed.mentor_id)
    token = lms.issue_token(seed.mentee1_id)
    info = await client.call(
        token,
        "core_message_get_member_info",
        referenceuserid=seed.mentee1_id,
        userids=[seed.mentee2_id, seed.mentor_id],
        includeprivacyinfo=True,
    )
    mentee2, mentor = info
    assert (mentee2["id"], mentee2["canmessage"], mentee2["requirescontact"]) == (
        seed.mentee2_id,
        False,
        True,
    )
    assert (mentor["isblocked"], mentor["canmessageevenifblocked"]) == (True, True)  # a teacher still can


async def test_unread_counters(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    lms.post_message(seed.mentor_id, seed.mentee1_id, "a")
    lms.post_message(seed.mentee2_id, seed.mentee1_id, "b")
    lms.post_to_conversation(seed.mentor_id, seed.group_conversation_id, "c")
    token = lms.issue_token(seed.mentee1_id)
    assert await client.call(token, "core_message_get_unread_conversations_count", useridto=0) == 3
    await client.call(
        token,
        "core_message_set_favourite_conversations",
        userid=seed.mentee1_id,
        conversations=[seed.group_conversation_id],
    )
    counts = await client.call(token, "core_message_get_unread_conversation_counts", userid=0)
    assert counts == {"favourites": 1, "types": {"1": 2, "2": 0, "3": 0}}
    await client.call(
        token,
        "core_message_mute_conversations",
        userid=seed.mentee1_id,
        conversationids=[seed.group_conversation_id],
    )
    counts = await client.call(token, "core_message_get_unread_conversation_counts", userid=0)
    assert counts == {"favourites": 0, "types": {"1": 2, "2": 0, "3": 0}}  # muted ones do not count


async def test_enrolment_sends_a_welcome_from_the_first_teacher(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    newcomer = lms.create_user("newcomer", firstname="New", lastname="Comer")
    lms.enrol(seed.course_id, newcomer)
    token = lms.issue_token(newcomer)
    body = await client.call(
        token, "core_message_get_messages", useridto=newcomer, type="notifications", read=0
    )
    [welcome] = body["messages"]
    assert (welcome["eventtype"], welcome["useridfrom"]) == ("enrolcoursewelcomemessage", seed.mentor_id)
    assert welcome["subject"] == "Welcome to Mentoring 101"
    assert welcome["contexturl"] == f"{lms.url}/user/view.php?id={newcomer}&amp;course={seed.course_id}"


async def test_emailstop_empties_the_popup(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    lms.notify(seed.mentee1_id, subject="s", text="t")
    token = lms.issue_token(seed.mentee1_id)
    assert (await client.call(token, "message_popup_get_popup_notifications", useridto=0))["unreadcount"] > 0
    assert await client.call(token, "core_user_update_user_preferences", emailstop=1) is None
    popup = await client.call(token, "message_popup_get_popup_notifications", useridto=0)
    assert popup == {"notifications": [], "unreadcount": 0}
    prefs = await client.call(token, "core_message_get_user_message_preferences")
    assert prefs["preferences"]["disableall"] == 1


async def test_moodle_format_keeps_html_and_breaks_lines(lms: SandboxLMS, seed: DemoSeed) -> None:
    item = lms.post_message(seed.mentor_id, seed.mentee1_id, "line <b>one</b>\nline two", textformat=0)
    assert item["text"] == "<p>line <b>one</b><br>\nline two</p>"  # observed 26
    item = lms.post_message(seed.mentor_id, seed.mentee1_id, "a  b", textformat=2)
    assert item["text"] == "<p>a&nbsp; b</p>"


async def test_requests_still_answer_with_latency(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    lms.set_latency(0.05)
    info = await client.call(lms.issue_token(seed.mentee1_id), "core_webservice_get_site_info")
    assert info["userid"] == seed.mentee1_id


async def test_notification_preferences_decide_the_popup(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    token = lms.issue_token(seed.mentee1_id)
    await client.call(
        token,
        "core_user_update_user_preferences",
        preferences=[{"type": "message_provider_mod_forum_posts_enabled", "value": "email"}],
    )
    prefs = await client.call(token, "core_message_get_user_notification_preferences")
    forum = next(c for c in prefs["preferences"]["components"] if c["displayname"] == "Forum")  # observed 28
    enabled = {p["name"]: p["enabled"] for p in forum["notifications"][0]["processors"]}
    assert enabled == {"popup": False, "email": True, "airnotifier": False}
    nid = lms.notify(seed.mentee1_id, subject="New post", text="x", component="mod_forum", eventtype="posts")
    popup = await client.call(token, "message_popup_get_popup_notifications", useridto=0)
    assert nid not in [n["id"] for n in popup["notifications"]]
    everything = await client.call(token, "core_message_get_messages", useridto=seed.mentee1_id, read=0)
    assert nid in [m["id"] for m in everything["messages"]]  # still stored, just not in the bell


async def test_delete_message_hides_it_for_one_user_only(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    item = lms.post_message(seed.mentor_id, seed.mentee1_id, "oops")
    token = lms.issue_token(seed.mentee1_id)
    other = lms.issue_token(seed.mentee2_id)
    refused = await client.call(
        other, "core_message_delete_message", messageid=item["msgid"], userid=seed.mentee2_id
    )
    assert is_error(refused, "You do not have permission to delete this message")
    body = await client.call(
        token, "core_message_delete_message", messageid=item["msgid"], userid=seed.mentee1_id
    )
    assert body == {"status": True, "warnings": []}
    args = {"convid": item["conversationid"]}
    mine = await client.call(
        token, "core_message_get_conversation_messages", currentuserid=seed.mentee1_id, **args
    )
    theirs = await client.call(
        lms.issue_token(seed.mentor_id),
        "core_message_get_conversation_messages",
        currentuserid=seed.mentor_id,
        **args,
    )
    assert mine["messages"] == [] and [m["id"] for m in theirs["messages"]] == [item["msgid"]]
