"""get_messages, notifications, popup, contact requests."""

from __future__ import annotations

from sandbox.lms import DemoSeed, SandboxLMS

from .conftest import Client, is_error


async def test_get_messages_returns_only_read_items_by_default(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    item = lms.post_message(seed.mentor_id, seed.mentee1_id, "hello")
    token = lms.issue_token(seed.mentee1_id)
    default = await client.call(
        token, "core_message_get_messages", useridto=seed.mentee1_id, type="conversations"
    )
    assert default == {"messages": [], "warnings": []}  # observed 3 / 7c
    unread = await client.call(
        token, "core_message_get_messages", useridto=seed.mentee1_id, type="conversations", read=0
    )
    [row] = unread["messages"]
    assert row["id"] == item["msgid"] and row["notification"] == 0 and row["timeread"] is None
    assert row["subject"] == "New message from Maya Mentor"
    assert row["fullmessage"] == "hello" and row["smallmessage"] == "hello"
    assert "component" not in row  # personal messages carry no component (observed 7b)
    await client.call(token, "core_message_mark_message_read", messageid=item["msgid"])
    read = await client.call(
        token, "core_message_get_messages", useridto=seed.mentee1_id, type="conversations"
    )
    assert [m["id"] for m in read["messages"]] == [item["msgid"]]
    assert read["messages"][0]["timeread"] == lms.clock.now()


async def test_get_messages_never_returns_group_messages_and_needs_a_user(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    lms.post_to_conversation(seed.mentor_id, seed.group_conversation_id, "group hello")
    token = lms.issue_token(seed.mentee1_id)
    body = await client.call(
        token, "core_message_get_messages", useridto=seed.mentee1_id, type="conversations", read=2
    )
    assert body["messages"] == []
    nobody = await client.call(lms.admin_token, "core_message_get_messages", useridto=0, useridfrom=0, read=2)
    assert nobody == {"messages": [], "warnings": []}  # observed 7a


async def test_messages_and_notifications_have_separate_id_counters(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    before = lms.notify(seed.mentee1_id, subject="n", text="n")
    msg = lms.post_message(seed.mentor_id, seed.mentee1_id, "m1")
    group_msg = lms.post_to_conversation(seed.mentor_id, seed.group_conversation_id, "m2")
    after = lms.notify(seed.mentee1_id, subject="n2", text="n2")
    assert (msg["msgid"], group_msg["id"]) == (1, 2)
    assert after == before + 1
    assert before > 1  # enrolment welcomes already used notification ids


async def test_notifications_carry_component_eventtype_customdata_and_popup_shape(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    nid = lms.notify(
        seed.mentee1_id,
        subject="Assignment due",
        text="Your essay is due <tomorrow>",
        component="mod_assign",
        eventtype="assign_notification",
        useridfrom=seed.mentor_id,
        contexturl="http://pluto.test/mod/assign/view.php?id=5",
        contexturlname="Essay 1",
        customdata={"cmid": 5},
    )
    token = lms.issue_token(seed.mentee1_id)
    body = await client.call(
        token, "core_message_get_messages", useridto=seed.mentee1_id, type="notifications", read=0
    )
    [row] = [m for m in body["messages"] if m["id"] == nid]
    assert row["component"] == "mod_assign" and row["eventtype"] == "assign_notification"
    assert row["customdata"] == '{"cmid":5}'
    assert row["text"] == "<p>Your essay is due &lt;tomorrow&gt;</p>"
    assert row["iconurl"].startswith(lms.url)
    popup = await client.call(token, "message_popup_get_popup_notifications", useridto=0)
    first = popup["notifications"][0]
    assert first["id"] == nid and first["read"] is False and first["timecreatedpretty"] == "now ago"
    unread_before = popup["unreadcount"]
    assert await client.call(token, "core_message_mark_notification_read", notificationid=nid) == {
        "notificationid": nid,
        "warnings": [],
    }
    count = await client.call(
        token, "message_popup_get_unread_popup_notification_count", useridto=seed.mentee1_id
    )
    assert count == unread_before - 1


async def test_marking_someone_elses_notification_is_invalidparameter(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    nid = lms.notify(seed.mentee1_id, subject="mine", text="mine")
    body = await client.call(
        lms.issue_token(seed.mentee2_id), "core_message_mark_notification_read", notificationid=nid
    )
    assert body == {  # observed 8c
        "exception": "core\\exception\\invalid_parameter_exception",
        "errorcode": "invalidparameter",
        "message": "Invalid parameter value detected",
    }


async def test_mark_all_notifications_as_read(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    lms.notify(seed.mentee1_id, subject="a", text="a")
    token = lms.issue_token(seed.mentee1_id)
    assert (
        await client.call(token, "core_message_get_unread_notification_count", useridto=seed.mentee1_id) > 0
    )
    assert (
        await client.call(token, "core_message_mark_all_notifications_as_read", useridto=seed.mentee1_id)
        is True
    )
    assert (
        await client.call(token, "core_message_get_unread_notification_count", useridto=seed.mentee1_id) == 0
    )


async def test_contact_request_notifies_then_confirm_makes_contacts(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    outsider = lms.create_user("mentor2", firstname="Mentor", lastname="Two")
    lms.enrol(seed.course_id, outsider, "teacher")
    requester = lms.issue_token(seed.mentee2_id)
    requested = lms.issue_token(outsider)
    assert await client.call(requester, "core_message_get_user_contacts", userid=seed.mentee2_id) == []

    created = await client.call(
        requester, "core_message_create_contact_request", userid=seed.mentee2_id, requesteduserid=outsider
    )
    assert created == {
        "request": {
            "id": created["request"]["id"],
            "userid": seed.mentee2_id,
            "requesteduserid": outsider,
            "timecreated": lms.clock.now(),
        },
        "warnings": [],
    }
    again = await client.call(
        requester, "core_message_create_contact_request", userid=seed.mentee2_id, requesteduserid=outsider
    )
    assert again["request"]["id"] == created["request"]["id"]  # idempotent

    notes = await client.call(
        requested, "core_message_get_messages", useridto=outsider, type="notifications", read=0
    )
    requests = [m for m in notes["messages"] if m["eventtype"] == "messagecontactrequests"]
    assert len(requests) == 1
    assert requests[0]["useridfrom"] == seed.mentee2_id
    assert requests[0]["contexturl"] == f"{lms.url}/message/index.php?view=contactrequests"
    popup = await client.call(requested, "message_popup_get_popup_notifications", useridto=outsider)
    assert all(n["eventtype"] != "messagecontactrequests" for n in popup["notifications"])  # observed 13

    pending = await client.call(requested, "core_message_get_contact_requests", userid=outsider)
    assert [u["id"] for u in pending] == [seed.mentee2_id]  # the requesting users (observed 9c)
    assert pending[0]["fullname"] == "Alex Mentee"
    assert (
        await client.call(requested, "core_message_get_received_contact_requests_count", userid=outsider) == 1
    )

    wrong = await client.call(
        requester, "core_message_confirm_contact_request", userid=seed.mentee2_id, requesteduserid=outsider
    )
    assert is_error(wrong, "nopermissions")  # only the requested user confirms
    assert (
        await client.call(
            requested,
            "core_message_confirm_contact_request",
            userid=seed.mentee2_id,
            requesteduserid=outsider,
        )
        == []
    )
    contacts = await client.call(requester, "core_message_get_user_contacts", userid=seed.mentee2_id)
    assert [(c["id"], c["iscontact"]) for c in contacts] == [(outsider, True)]
    assert await client.call(requested, "core_message_get_contact_requests", userid=outsider) == []


async def test_decline_and_refused_request(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    token = lms.issue_token(seed.mentee1_id)
    await client.call(
        token, "core_message_create_contact_request", userid=seed.mentee1_id, requesteduserid=seed.mentee2_id
    )
    other = lms.issue_token(seed.mentee2_id)
    assert (
        await client.call(
            other,
            "core_message_decline_contact_request",
            userid=seed.mentee1_id,
            requesteduserid=seed.mentee2_id,
        )
        == []
    )
    assert await client.call(other, "core_message_get_contact_requests", userid=seed.mentee2_id) == []
    assert await client.call(token, "core_message_get_user_contacts", userid=seed.mentee1_id) == []
    stranger = lms.create_user("stranger")
    refused = await client.call(
        token, "core_message_create_contact_request", userid=seed.mentee1_id, requesteduserid=stranger
    )
    assert "request" not in refused
    assert refused["warnings"][0]["warningcode"] == "cannotcreatecontactrequest"


async def test_block_unblock_and_preferences(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    token = lms.issue_token(seed.mentee1_id)
    assert (
        await client.call(
            token, "core_message_block_user", userid=seed.mentee1_id, blockeduserid=seed.mentee2_id
        )
        == []
    )
    blocked = await client.call(token, "core_message_get_blocked_users", userid=seed.mentee1_id)
    assert [u["id"] for u in blocked["users"]] == [seed.mentee2_id]
    # A teacher in a shared course can always message, so blocking them does nothing.
    await client.call(token, "core_message_block_user", userid=seed.mentee1_id, blockeduserid=seed.mentor_id)
    blocked = await client.call(token, "core_message_get_blocked_users", userid=seed.mentee1_id)
    assert [u["id"] for u in blocked["users"]] == [seed.mentee2_id]
    await client.call(
        token, "core_message_unblock_user", userid=seed.mentee1_id, unblockeduserid=seed.mentee2_id
    )
    assert lms.post_message(seed.mentee2_id, seed.mentee1_id, "hi")["msgid"] > 0

    prefs = await client.call(token, "core_message_get_user_message_preferences", userid=seed.mentee1_id)
    assert prefs["blocknoncontacts"] == 0 and prefs["entertosend"] is True
    assert prefs["preferences"]["userid"] == seed.mentee1_id
    result = await client.call(
        token,
        "core_user_update_user_preferences",
        userid=seed.mentee1_id,
        preferences=[{"type": "message_blocknoncontacts", "value": "1"}],
    )
    assert result is None
    prefs = await client.call(token, "core_message_get_user_message_preferences", userid=seed.mentee1_id)
    assert prefs["blocknoncontacts"] == 1
    got = await client.call(token, "core_user_get_user_preferences", name="message_blocknoncontacts")
    assert got == {"preferences": [{"name": "message_blocknoncontacts", "value": "1"}], "warnings": []}
    assert lms.post_message(seed.mentee2_id, seed.mentee1_id, "again")["msgid"] == -1


async def test_enrolled_users_and_users_by_field(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    token = lms.issue_token(seed.mentee1_id)
    users = await client.call(token, "core_enrol_get_enrolled_users", courseid=seed.course_id)
    assert {u["id"] for u in users} == {seed.mentor_id, seed.mentee1_id, seed.mentee2_id}
    mentor = next(u for u in users if u["id"] == seed.mentor_id)
    assert mentor["roles"][0]["shortname"] == "editingteacher"
    assert "groups" not in mentor  # a student does not hold moodle/site:accessallgroups
    found = await client.call(
        lms.admin_token, "core_user_get_users_by_field", field="username", values=["mentee2"]
    )
    assert [(u["id"], u["username"], u["fullname"]) for u in found] == [
        (seed.mentee2_id, "mentee2", "Alex Mentee")
    ]


async def test_users_by_field_hides_private_fields_and_unseen_users(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    token = lms.issue_token(seed.mentee1_id)
    email = "mentee2@example.com"
    as_peer = await client.call(token, "core_user_get_users_by_field", field="email", values=[email])
    assert [(u["id"], u["fullname"]) for u in as_peer] == [(seed.mentee2_id, "Alex Mentee")]
    assert "email" not in as_peer[0] and "username" not in as_peer[0]  # private to self and admins
    stranger = lms.create_user("stranger")
    assert (
        await client.call(token, "core_user_get_users_by_field", field="email", values=["stranger@example.com"])
        == []
    )
    lms.post_message(2, stranger, "admin says hi")  # sharing a conversation makes a profile visible
    admin_view = await client.call(
        lms.issue_token(stranger), "core_user_get_users_by_field", field="id", values=["2"]
    )
    assert [u["id"] for u in admin_view] == [2]
