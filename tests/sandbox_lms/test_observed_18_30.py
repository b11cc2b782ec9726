"""The sandbox answers as the stock Moodle 4.5.11+ site did: moodle-4.5-observed.md items 18-30,
one test each (item 20's cron is pinned in test_login_and_errors.py as well)."""

from __future__ import annotations

import json
from typing import Any

from sandbox.lms import DemoSeed, SandboxLMS

from .conftest import Client, is_error

REFUSED = "You can't message this user due to their message preferences. Try adding them as a contact."


async def send(client: Client, token: str, touserid: int, text: str) -> dict[str, Any]:
    message = {"touserid": touserid, "text": text, "textformat": 2}
    [item] = await client.call(token, "core_message_send_instant_messages", messages=[message])
    return dict(item)


async def test_18_a_latest_message_of_0_or_empty_is_left_out_of_the_listing(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    token = lms.issue_token(seed.mentee1_id)
    for text in ("0", ""):
        lms.clock.advance(1)
        sent = lms.post_message(seed.mentor_id, seed.mentee1_id, text)
        listing = await client.call(token, "core_message_get_conversations", userid=seed.mentee1_id)
        [conv] = [c for c in listing["conversations"] if c["id"] == sent["conversationid"]]
        assert conv["messages"] == []
        assert conv["unreadcount"] >= 1
        body = await client.call(
            token, "core_message_get_conversation_messages", currentuserid=seed.mentee1_id,
            convid=sent["conversationid"], newest=True, limitnum=1,
        )
        assert [m["id"] for m in body["messages"]] == [sent["msgid"]]
        assert body["messages"][0]["text"] == ("<p>0</p>" if text else "")
    lms.clock.advance(1)
    lms.post_message(seed.mentor_id, seed.mentee1_id, "and now words")
    listing = await client.call(token, "core_message_get_conversations", userid=seed.mentee1_id)
    [conv] = [c for c in listing["conversations"] if c["type"] == 1]
    assert [m["text"] for m in conv["messages"]] == ["<p>and now words</p>"] and conv["unreadcount"] == 3


async def test_19_users_by_username_only_for_self_and_admins(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    mentee1, mentor = lms.issue_token(seed.mentee1_id), lms.issue_token(seed.mentor_id)

    async def by(token: str, field: str, value: str) -> list[int]:
        found = await client.call(token, "core_user_get_users_by_field", field=field, values=[value])
        return [u["id"] for u in found]

    assert await by(mentee1, "username", "mentee2") == []  # course-mate in the same group
    assert await by(mentee1, "username", "mentor") == []  # their teacher
    assert await by(mentor, "username", "mentee1") == []  # an editing teacher, their student
    assert await by(lms.admin_token, "username", "mentee1") == [seed.mentee1_id]
    assert await by(mentee1, "username", "mentee1") == [seed.mentee1_id]
    assert await by(mentee1, "email", "mentee2@example.com") == [seed.mentee2_id]
    # Finding people as a normal user: the messaging search, contacts and non-contacts apart.
    lms.add_contact(seed.mentee1_id, seed.mentor_id)
    stranger = lms.create_user("stranger", firstname="Maya", lastname="Elsewhere")  # shares no course
    found = await client.call(mentee1, "core_message_message_search_users", userid=seed.mentee1_id, search="maya")
    assert [u["id"] for u in found["contacts"]] == [seed.mentor_id]
    assert found["noncontacts"] == [] and stranger not in [u["id"] for u in found["contacts"]]
    found = await client.call(mentee1, "core_message_message_search_users", userid=seed.mentee1_id, search="Alex")
    assert [u["id"] for u in found["noncontacts"]] == [seed.mentee2_id] and found["contacts"] == []


async def test_20_new_sign_in_waits_for_cron(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    token = (await client.login("mentee1"))["token"]
    unread = await client.call(token, "core_message_get_messages", useridto=seed.mentee1_id, type="notifications",
                               read=0)
    assert [m for m in unread["messages"] if m["eventtype"] == "newlogin"] == []
    [sent] = lms.run_cron()
    unread = await client.call(token, "core_message_get_messages", useridto=seed.mentee1_id, type="notifications",
                               read=0)
    [row] = [m for m in unread["messages"] if m["eventtype"] == "newlogin"]
    assert row["id"] == sent and row["subject"] == f"New sign in to your {lms.site_name} account"


async def contact_request(lms: SandboxLMS, seed: DemoSeed, client: Client) -> dict[str, Any]:
    alex = lms.issue_token(seed.mentee2_id)
    await client.call(alex, "core_message_create_contact_request", userid=seed.mentee2_id,
                      requesteduserid=seed.mentee1_id)
    body = await client.call(lms.issue_token(seed.mentee1_id), "core_message_get_messages",
                             useridto=seed.mentee1_id, type="notifications", read=0)
    [row] = [m for m in body["messages"] if m["eventtype"] == "messagecontactrequests"]
    return dict(row)


async def test_21_the_contact_request_notification(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    row = await contact_request(lms, seed, client)
    assert row["component"] == "moodle"
    assert row["subject"] == f"{lms.site_name}: Contact request from Alex Mentee"
    assert row["smallmessage"] == ""
    assert row["fullmessageformat"] == 1 and "Alex Mentee" in row["fullmessage"]
    assert row["contexturlname"] is None
    assert row["useridfrom"] == seed.mentee2_id
    custom = json.loads(row["customdata"])
    assert custom["actionbuttons"] == {"accept": "Accept", "reject": "Reject"}
    assert custom["courseid"] == "1"
    assert "requesterid" not in custom


async def test_22_popup_does_not_list_a_pending_contact_request(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    sam = lms.issue_token(seed.mentee1_id)
    await client.call(sam, "core_message_mark_all_notifications_as_read", useridto=seed.mentee1_id)
    row = await contact_request(lms, seed, client)  # listed by core_message_get_messages, unread
    assert row["timeread"] is None
    popup = await client.call(sam, "message_popup_get_popup_notifications", useridto=seed.mentee1_id)
    assert [n for n in popup["notifications"] if n["timeread"] is None] == []
    assert popup["unreadcount"] == 0
    assert await client.call(sam, "message_popup_get_unread_popup_notification_count", useridto=seed.mentee1_id) == 0


async def test_23_answering_a_request_that_is_not_pending_succeeds(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    await contact_request(lms, seed, client)
    sam = lms.issue_token(seed.mentee1_id)
    args = {"userid": seed.mentee2_id, "requesteduserid": seed.mentee1_id}
    assert await client.call(sam, "core_message_confirm_contact_request", **args) == []
    assert await client.call(sam, "core_message_confirm_contact_request", **args) == []  # no longer pending
    assert await client.call(sam, "core_message_decline_contact_request", **args) == []
    contacts = await client.call(sam, "core_message_get_user_contacts", userid=seed.mentee1_id)
    assert [c["id"] for c in contacts] == [seed.mentee2_id]
    assert await client.call(sam, "core_message_get_contact_requests", userid=seed.mentee1_id) == []


async def test_24_a_function_outside_the_service_is_an_access_exception(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    sam = lms.issue_token(seed.mentee1_id)
    assert is_error(await client.call(sam, "core_user_create_users", users=[]), "accessexception")
    assert is_error(await client.call(lms.admin_token, "core_course_get_courses"), "accessexception")
    lms.remove_from_service("core_message_get_unread_conversation_counts")
    body = await client.call(sam, "core_message_get_unread_conversation_counts", userid=seed.mentee1_id)
    assert body == {
        "exception": "webservice_access_exception",
        "errorcode": "accessexception",
        "message": "Access control exception",
    }
    info = await client.call(sam, "core_webservice_get_site_info")
    assert "core_message_get_unread_conversation_counts" not in {f["name"] for f in info["functions"]}
    assert is_error(await client.call(sam, "core_message_no_such_function"), "invalidrecord")


async def test_25_refusal_texts_name_nobody(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    alex = lms.issue_token(seed.mentee2_id)
    lms.set_preference(seed.mentee1_id, "message_blocknoncontacts", "1")
    assert (await send(client, alex, seed.mentee1_id, "hi"))["errormessage"] == REFUSED
    lms.set_preference(seed.mentee1_id, "message_blocknoncontacts", None)
    lms.block(seed.mentee1_id, seed.mentee2_id)
    assert (await send(client, alex, seed.mentee1_id, "hi"))["errormessage"] == REFUSED
    unknown = await send(client, alex, 99999, "hi")
    assert unknown["errormessage"] == "You cannot send a message to a user ID (99999) that doesn't exist."
    outsider = lms.create_user("outsider")
    body = await client.call(lms.issue_token(outsider), "core_message_send_messages_to_conversation",
                             conversationid=seed.group_conversation_id, messages=[{"text": "x", "textformat": 2}])
    reason = f"User {outsider} cannot send a message to conversation {seed.group_conversation_id}"
    assert body == {"exception": "core\\exception\\moodle_exception", "errorcode": reason, "message": f"error/{reason}"}


async def test_26_newline_is_br_and_empty_text_is_empty(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    mentor = lms.issue_token(seed.mentor_id)
    assert (await send(client, mentor, seed.mentee1_id, "one\ntwo"))["text"] == "<p>one<br>\ntwo</p>"
    assert (await send(client, mentor, seed.mentee1_id, ""))["text"] == ""


async def test_27_blocknoncontacts_1_means_contacts_only(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    sam, alex = lms.issue_token(seed.mentee1_id), lms.issue_token(seed.mentee2_id)
    await client.call(sam, "core_user_update_user_preferences",
                      preferences=[{"type": "message_blocknoncontacts", "value": "1"}])
    prefs = await client.call(sam, "core_message_get_user_message_preferences")
    assert prefs["blocknoncontacts"] == 1
    assert (await send(client, alex, seed.mentee1_id, "course-mate"))["msgid"] == -1
    lms.add_contact(seed.mentee1_id, seed.mentee2_id)
    assert (await send(client, alex, seed.mentee1_id, "contact now"))["msgid"] > 0


async def test_28_notification_preferences_shape(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    prefs = await client.call(lms.issue_token(seed.mentee1_id), "core_message_get_user_notification_preferences")
    components = prefs["preferences"]["components"]
    names = [c["displayname"] for c in components]
    assert {"System", "Assignment", "Feedback", "Forum", "Lesson", "Quiz"} <= set(names)
    assert len(names) >= 10
    for component in components:
        for provider in component["notifications"]:
            assert provider["preferencekey"].startswith("message_provider_")
            assert [p["name"] for p in provider["processors"]] == ["popup", "email", "airnotifier"]
            for processor in provider["processors"]:
                assert {"enabled", "locked", "userconfigured"} <= set(processor)
    system = next(c for c in components if c["displayname"] == "System")
    assert "message_provider_moodle_instantmessage" in [n["preferencekey"] for n in system["notifications"]]
    labels = {p["name"]: p["displayname"] for p in prefs["preferences"]["processors"]}
    assert labels == {"popup": "Web", "email": "Email", "airnotifier": "Mobile"}


async def test_29_the_callers_own_online_status_is_hidden(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    members = await client.call(lms.issue_token(seed.mentee1_id), "core_message_get_conversation_members",
                                userid=seed.mentee1_id, conversationid=seed.group_conversation_id)
    status = {m["id"]: (m["isonline"], m["showonlinestatus"]) for m in members}
    assert status[seed.mentee1_id] == (None, False)
    assert status[seed.mentor_id] == (False, True)


async def test_30_sign_in_hands_back_the_existing_token(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    first = (await client.login("mentee1"))["token"]
    second = (await client.login("mentee1"))["token"]
    assert first == second == lms.issue_token(seed.mentee1_id)
    lms.revoke_token(first)  # revoking it in Pluto ends every client of that token
    third = (await client.login("mentee1"))["token"]
    assert third != first
    assert is_error(await client.call(first, "core_webservice_get_site_info"), "invalidtoken")
