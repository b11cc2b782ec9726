"""Conversation listing, incremental polling with timefrom, read state."""

from __future__ import annotations

from sandbox.lms import DemoSeed, SandboxLMS

from .conftest import Client, is_error


async def test_every_user_has_a_favourited_self_conversation(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    token = lms.issue_token(seed.mentee1_id)
    body = await client.call(token, "core_message_get_conversations", userid=seed.mentee1_id)
    selfconv = [c for c in body["conversations"] if c["type"] == 3]
    assert len(selfconv) == 1
    assert selfconv[0]["isfavourite"] is True
    assert selfconv[0]["unreadcount"] is None
    assert [m["id"] for m in selfconv[0]["members"]] == [seed.mentee1_id]
    group = [c for c in body["conversations"] if c["type"] == 2]
    assert group[0]["name"] == "Cohort A"
    assert group[0]["subname"] == "MENT101"
    assert group[0]["membercount"] == 3
    assert group[0]["members"] == []  # no message yet, so no last sender
    only_favourites = await client.call(
        token, "core_message_get_conversations", userid=seed.mentee1_id, favourites=True
    )
    assert [c["type"] for c in only_favourites["conversations"]] == [3]


async def test_conversations_sort_by_last_message_and_unreadcount_is_null_when_read(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    lms.post_message(seed.mentor_id, seed.mentee1_id, "first")
    lms.clock.advance(5)
    lms.post_to_conversation(seed.mentee2_id, seed.group_conversation_id, "later")
    token = lms.issue_token(seed.mentee1_id)
    body = await client.call(token, "core_message_get_conversations", userid=seed.mentee1_id)
    convs = body["conversations"]
    dm_id = lms.conversation_between(seed.mentor_id, seed.mentee1_id)
    assert [c["id"] for c in convs[:2]] == [seed.group_conversation_id, dm_id]
    assert convs[2]["type"] == 3 and convs[2]["messages"] == []  # empty ones last
    assert convs[0]["members"][0]["id"] == seed.mentee2_id  # a group shows its last sender
    assert convs[1]["members"][0]["id"] == seed.mentor_id  # a DM shows the other user
    assert convs[1]["unreadcount"] == 1 and convs[1]["isread"] is False
    counts = await client.call(token, "core_message_get_unread_conversation_counts", userid=seed.mentee1_id)
    assert counts == {"favourites": 0, "types": {"1": 1, "2": 1, "3": 0}}

    result = await client.call(
        token,
        "core_message_mark_all_conversation_messages_as_read",
        userid=seed.mentee1_id,
        conversationid=dm_id,
    )
    assert result is None
    body = await client.call(token, "core_message_get_conversations", userid=seed.mentee1_id, type=1)
    [dm] = body["conversations"]
    assert dm["unreadcount"] is None and dm["isread"] is True
    page = await client.call(
        token, "core_message_get_conversations", userid=seed.mentee1_id, limitfrom=1, limitnum=1
    )
    assert [c["id"] for c in page["conversations"]] == [dm_id]


async def test_timefrom_is_inclusive_capped_at_now_minus_one_and_fails_at_now(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    t = lms.clock.now()
    a = lms.post_to_conversation(seed.mentor_id, seed.group_conversation_id, "a")
    b = lms.post_to_conversation(seed.mentee2_id, seed.group_conversation_id, "b")
    token = lms.issue_token(seed.mentee1_id)
    args = {"currentuserid": seed.mentee1_id, "convid": seed.group_conversation_id}

    same_second = await client.call(token, "core_message_get_conversation_messages", timefrom=t, **args)
    assert same_second == {  # observed 5e
        "exception": "core\\exception\\invalid_response_exception",
        "errorcode": "invalidresponse",
        "message": "Invalid response value detected",
    }
    future = await client.call(token, "core_message_get_conversation_messages", timefrom=t + 5, **args)
    assert future == {"id": seed.group_conversation_id, "members": [], "messages": []}
    held_back = await client.call(token, "core_message_get_conversation_messages", timefrom=t - 1, **args)
    assert held_back["messages"] == []  # the current second is held back
    everything = await client.call(token, "core_message_get_conversation_messages", **args)
    assert {m["id"] for m in everything["messages"]} == {a["id"], b["id"]}  # no timefrom: no cap

    lms.clock.advance(1)
    body = await client.call(token, "core_message_get_conversation_messages", timefrom=t, **args)
    assert sorted((m["timecreated"], m["id"]) for m in body["messages"]) == [(t, a["id"]), (t, b["id"])]
    assert {m["id"] for m in body["members"]} == {seed.mentor_id, seed.mentee2_id}  # authors only
    lms.clock.advance(1)
    empty = await client.call(token, "core_message_get_conversation_messages", timefrom=t + 1, **args)
    assert empty == {"id": seed.group_conversation_id, "members": [], "messages": []}


async def test_same_second_messages_come_back_in_no_id_order(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    ids = [
        lms.post_to_conversation(seed.mentor_id, seed.group_conversation_id, str(i))["id"] for i in range(3)
    ]
    lms.clock.advance(1)
    token = lms.issue_token(seed.mentee1_id)
    body = await client.call(
        token,
        "core_message_get_conversation_messages",
        currentuserid=seed.mentee1_id,
        convid=seed.group_conversation_id,
    )
    returned = [m["id"] for m in body["messages"]]
    assert sorted(returned) == ids
    assert returned != ids  # Moodle orders by timecreated only; clients must sort


async def test_newest_and_paging(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    ids = []
    for i in range(4):
        ids.append(lms.post_to_conversation(seed.mentor_id, seed.group_conversation_id, str(i))["id"])
        lms.clock.advance(1)
    token = lms.issue_token(seed.mentee1_id)
    args = {"currentuserid": seed.mentee1_id, "convid": seed.group_conversation_id}
    newest = await client.call(token, "core_message_get_conversation_messages", newest=1, limitnum=2, **args)
    assert [m["id"] for m in newest["messages"]] == [ids[3], ids[2]]
    oldest = await client.call(
        token, "core_message_get_conversation_messages", limitfrom=1, limitnum=2, **args
    )
    assert [m["id"] for m in oldest["messages"]] == [ids[1], ids[2]]


async def test_non_member_cannot_read_a_conversation(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    outsider = lms.create_user("outsider")
    token = lms.issue_token(outsider)
    body = await client.call(
        token,
        "core_message_get_conversation_messages",
        currentuserid=outsider,
        convid=seed.group_conversation_id,
    )
    assert is_error(body, "User is not part of conversation.")
    body = await client.call(
        token, "core_message_get_conversation", userid=outsider, conversationid=seed.group_conversation_id
    )
    assert is_error(body, "errorconversationdoesnotexist")


async def test_conversation_members_lists_the_whole_group(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    token = lms.issue_token(seed.mentee1_id)
    members = await client.call(
        token,
        "core_message_get_conversation_members",
        userid=seed.mentee1_id,
        conversationid=seed.group_conversation_id,
    )
    assert {m["id"] for m in members} == {seed.mentor_id, seed.mentee1_id, seed.mentee2_id}
    lms.remove_group_member(seed.group_id, seed.mentee2_id)
    members = await client.call(
        token,
        "core_message_get_conversation_members",
        userid=seed.mentee1_id,
        conversationid=seed.group_conversation_id,
    )
    assert {m["id"] for m in members} == {seed.mentor_id, seed.mentee1_id}


async def test_mark_message_read_once_then_missing_record(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    item = lms.post_message(seed.mentor_id, seed.mentee1_id, "read me")
    token = lms.issue_token(seed.mentee1_id)
    body = await client.call(token, "core_message_mark_message_read", messageid=item["msgid"])
    assert body == {"messageid": item["msgid"], "warnings": []}
    again = await client.call(token, "core_message_mark_message_read", messageid=item["msgid"])
    assert again["exception"] == "dml_missing_record_exception"
    sender = await client.call(
        lms.issue_token(seed.mentor_id), "core_message_mark_message_read", messageid=item["msgid"]
    )
    assert sender["exception"] == "dml_missing_record_exception"


async def test_mute_is_per_user(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    token = lms.issue_token(seed.mentee1_id)
    assert (
        await client.call(
            token,
            "core_message_mute_conversations",
            userid=seed.mentee1_id,
            conversationids=[seed.group_conversation_id],
        )
        == []
    )
    mine = await client.call(token, "core_message_get_conversations", userid=seed.mentee1_id, type=2)
    theirs = await client.call(
        lms.issue_token(seed.mentee2_id), "core_message_get_conversations", userid=seed.mentee2_id, type=2
    )
    assert mine["conversations"][0]["ismuted"] is True
    assert theirs["conversations"][0]["ismuted"] is False
