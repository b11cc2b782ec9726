"""One-to-one and conversation sends: privacy, limits, clientmsgid, text formats."""

from __future__ import annotations

from typing import Any

from sandbox.lms import DemoSeed, SandboxLMS

from .conftest import Client, is_error


async def send(client: Client, token: str, touserid: int, text: str, **extra: Any) -> Any:
    message = {"touserid": touserid, "text": text, "textformat": 2, **extra}
    return await client.call(token, "core_message_send_instant_messages", messages=[message])


async def test_send_creates_the_conversation_and_returns_formatted_html(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    token = lms.issue_token(seed.mentor_id)
    [item] = await send(
        client, token, seed.mentee1_id, "Hello mentee1 <b>bold</b>\nnext & last", clientmsgid="br-1"
    )
    conv_id = lms.conversation_between(seed.mentor_id, seed.mentee1_id)
    assert item == {
        "msgid": item["msgid"],
        "clientmsgid": "br-1",
        "text": "<p>Hello mentee1 &lt;b&gt;bold&lt;/b&gt;<br>\nnext &amp; last</p>",
        "timecreated": lms.clock.now(),
        "conversationid": conv_id,
        "useridfrom": seed.mentor_id,
        "candeletemessagesforallusers": False,
    }
    [stored] = lms.messages_in(conv_id or 0)
    assert stored["text"] == "Hello mentee1 <b>bold</b>\nnext & last"  # raw as sent
    assert stored["textformat"] == 2
    [again] = await send(client, token, seed.mentee1_id, "second")
    assert again["conversationid"] == conv_id


async def test_html_is_cleaned_and_markdown_rendered(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    token = lms.issue_token(seed.mentor_id)
    html = '<p>hi <a href="http://x.test/" onclick="steal()">link</a></p><script>alert(1)</script>'
    [item] = await send(client, token, seed.mentee1_id, html, textformat=1)
    assert item["text"] == '<p>hi <a href="http://x.test/">link</a></p>'
    [item] = await send(client, token, seed.mentee1_id, "**bold** <i>x</i>", textformat=4)
    assert item["text"] == "<p><strong>bold</strong> &lt;i&gt;x&lt;/i&gt;</p>"


async def test_blocked_sender_is_refused_inline(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    lms.block(seed.mentee1_id, seed.mentee2_id)
    token = lms.issue_token(seed.mentee2_id)
    [item] = await send(client, token, seed.mentee1_id, "let me in", clientmsgid="c1")
    assert item == {
        "msgid": -1,
        "clientmsgid": "c1",
        "errormessage": (
            "You can't message this user due to their message preferences. Try adding them as a contact."
        ),  # names nobody (observed 25)
        "candeletemessagesforallusers": False,
    }
    assert lms.conversation_between(seed.mentee1_id, seed.mentee2_id) is None


async def test_contacts_only_recipient_refuses_non_contacts(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    lms.set_preference(seed.mentee1_id, "message_blocknoncontacts", "1")
    token = lms.issue_token(seed.mentee2_id)
    [refused] = await send(client, token, seed.mentee1_id, "hi")
    assert refused["msgid"] == -1
    assert refused["errormessage"] == (  # observed 25 (and 27: "1" means contacts only)
        "You can't message this user due to their message preferences. Try adding them as a contact."
    )
    lms.add_contact(seed.mentee1_id, seed.mentee2_id)
    [sent] = await send(client, token, seed.mentee1_id, "hi again")
    assert sent["msgid"] > 0


async def test_course_members_only_by_default_and_site_wide_only_when_allowed(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    outsider = lms.create_user("outsider", firstname="Out", lastname="Sider")
    token = lms.issue_token(outsider)
    [refused] = await send(client, token, seed.mentee1_id, "hello stranger")
    assert refused["msgid"] == -1
    lms.set_preference(seed.mentee1_id, "message_blocknoncontacts", "2")
    [still_refused] = await send(client, token, seed.mentee1_id, "hello stranger")
    assert still_refused["msgid"] == -1  # "anyone" counts only with messagingallusers on
    lms.set_config(messagingallusers=True)
    [sent] = await send(client, token, seed.mentee1_id, "hello stranger")
    assert sent["msgid"] > 0


async def test_admin_may_message_anyone(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    lms.set_preference(seed.mentee1_id, "message_blocknoncontacts", "1")
    lms.block(seed.mentee1_id, 2)
    [item] = await send(client, lms.admin_token, seed.mentee1_id, "from the admin")
    assert item["msgid"] > 0


async def test_messaging_off_fails_the_call_with_disabled(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    lms.set_config(messaging=False)
    body = await send(client, lms.issue_token(seed.mentor_id), seed.mentee1_id, "hi")
    assert body == {
        "exception": "core\\exception\\moodle_exception",
        "errorcode": "disabled",
        "message": "Messaging is disabled on this site",
    }
    info = await client.call(lms.issue_token(seed.mentor_id), "core_webservice_get_site_info")
    assert {"name": "messaging", "value": 0} in info["advancedfeatures"]


async def test_length_limit_counts_bytes(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    token = lms.issue_token(seed.mentor_id)
    [ok] = await send(client, token, seed.mentee1_id, "é" * 2000)  # 4000 bytes
    assert ok["msgid"] > 0
    [too_long] = await send(client, token, seed.mentee1_id, "é" * 2100)  # 2100 characters, 4200 bytes
    assert too_long["msgid"] == -1
    assert too_long["errormessage"] == "The message is longer than the maximum allowed."
    body = await client.call(
        token,
        "core_message_send_messages_to_conversation",
        conversationid=seed.group_conversation_id,
        messages=[{"text": "é" * 2100, "textformat": 2}],
    )
    assert is_error(body, "errormessagetoolong")


async def test_clientmsgid_outside_alphanumext_fails_the_whole_call(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    token = lms.issue_token(seed.mentor_id)
    body = await client.call(
        token,
        "core_message_send_instant_messages",
        messages=[
            {"touserid": seed.mentee1_id, "text": "fine", "clientmsgid": "ok_1-A"},
            {"touserid": seed.mentee2_id, "text": "bad", "clientmsgid": "bridge:2"},
        ],
    )
    assert is_error(body, "invalidparameter")
    assert lms.conversation_between(seed.mentor_id, seed.mentee1_id) is None  # nothing was sent


async def test_unknown_recipient_is_refused_inline(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    [item] = await send(client, lms.issue_token(seed.mentor_id), 999, "hello?")
    assert item["msgid"] == -1
    assert "999" in item["errormessage"]


async def test_group_member_can_post_and_non_member_is_refused(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    outsider = lms.create_user("mentee3", firstname="Mentee", lastname="Three")
    lms.enrol(seed.course_id, outsider)
    member_token = lms.issue_token(seed.mentee2_id)
    posted = await client.call(
        member_token,
        "core_message_send_messages_to_conversation",
        conversationid=seed.group_conversation_id,
        messages=[{"text": "Thanks mentor!", "textformat": 1}],
    )
    assert posted == [
        {
            "id": posted[0]["id"],
            "useridfrom": seed.mentee2_id,
            "text": "<p>Thanks mentor!</p>",
            "timecreated": lms.clock.now(),
        }
    ]
    body = await client.call(
        lms.issue_token(outsider),
        "core_message_send_messages_to_conversation",
        conversationid=seed.group_conversation_id,
        messages=[{"text": "intruder"}],
    )
    refusal = f"User {outsider} cannot send a message to conversation {seed.group_conversation_id}"
    assert body == {  # observed 5c
        "exception": "core\\exception\\moodle_exception",
        "errorcode": refusal,
        "message": f"error/{refusal}",
    }
    assert [m["text"] for m in lms.messages_in(seed.group_conversation_id)] == ["Thanks mentor!"]


async def test_hooks_follow_the_same_rules(lms: SandboxLMS, seed: DemoSeed) -> None:
    lms.block(seed.mentee1_id, seed.mentee2_id)
    assert lms.post_message(seed.mentee2_id, seed.mentee1_id, "hi")["msgid"] == -1
    item = lms.post_message(seed.mentor_id, seed.mentee1_id, "a <b>", textformat=2)
    assert item["text"] == "<p>a &lt;b&gt;</p>"
    posted = lms.post_to_conversation(seed.mentor_id, seed.group_conversation_id, "Welcome")
    assert posted["useridfrom"] == seed.mentor_id
