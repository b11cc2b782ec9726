"""Outbound: sends, edits, deletes and buttons as recorded on the wire, and failure mapping."""

import asyncio
import logging

import pytest

from adapters.discord import DiscordAdapter
from bridge.model import Action, ChatIdentity, Destination, Platform, Post, Reply, SentRef
from bridge.ports import PermanentError, RateLimited, RecipientUnreachable, TransientError

HOSTILE = "@everyone @here <@&123> <@456> **not bold** [click](https://evil.example) ||spoiler||"


def dest(uid: str, room: str | None = None) -> Destination:
    return Destination(ChatIdentity(Platform.DISCORD, "", uid), room=room)


async def test_send_opens_dm_once_and_posts_buttons(sandbox, adapter):
    ada = sandbox.add_user(name="Ada")
    actions = (
        Action("t:1:ok", "Accept", style="primary"),
        Action("t:1:no", "Reject", style="danger"),
        Action("t:1:later", "Later"),
        Action("open", "Open in Pluto", url="https://pluto.example/task/1"),
    )
    first = await adapter.send(dest(ada), Post("Task one", actions=actions))
    second = await adapter.send(dest(ada), Post("Task two"))

    opens = sandbox.requests_to("POST", "/users/@me/channels")
    assert len(opens) == 1  # the DM channel is cached per user
    assert str(opens[0].body["recipient_id"]) == ada
    assert first.room == second.room == sandbox.dm_channels[ada]
    posted = sandbox.requests_to("POST", f"/channels/{first.room}/messages")
    assert [r.body["content"] for r in posted] == ["Task one", "Task two"]
    [row] = posted[0].body["components"]
    assert row["type"] == 1
    assert [(b["style"], b["label"], b.get("custom_id"), b.get("url")) for b in row["components"]] == [
        (1, "Accept", "t:1:ok", None),
        (4, "Reject", "t:1:no", None),
        (2, "Later", "t:1:later", None),
        (5, "Open in Pluto", None, "https://pluto.example/task/1"),
    ]
    assert "components" not in posted[1].body or posted[1].body["components"] == []
    assert sandbox.messages[first.room][first.message_id]["content"] == "Task one"


async def test_buttons_fit_discords_component_limits(sandbox, adapter):
    """Beyond five buttons a second row; long labels cut to 80; a link Discord would refuse
    left out (the message still goes); a decision that asks a reason is marked in its id."""
    ada = sandbox.add_user(name="Ada")
    actions = (
        *(Action(f"b{n}", f"Button {n}") for n in range(6)),
        Action("long", "L" * 120),
        Action("why", "Reject", style="danger", needs_reason=True),
        Action("bad-link", "Open file", url="file:///etc/passwd"),
        Action("huge-link", "Open long", url="https://pluto.example/" + "x" * 600),
        Action("link", "Open in Pluto", url="https://pluto.example/task/1"),
    )
    sent = await adapter.send(dest(ada), Post("Many buttons", actions=actions))
    [request] = sandbox.requests_to("POST", f"/channels/{sent.room}/messages")
    assert request.status == 200 and sandbox.spec_errors == []
    rows = [
        [(b["label"], b.get("custom_id") or b.get("url")) for b in row["components"]]
        for row in request.body["components"]
    ]
    assert rows == [
        [(f"Button {n}", f"b{n}") for n in range(5)],
        [
            ("Button 5", "b5"),
            ("L" * 79 + "\u2026", "long"),
            ("Reject", "pluto-ask:why"),
            ("Open in Pluto", "https://pluto.example/task/1"),
        ],
    ]


async def test_send_with_reply_to_carries_message_reference(sandbox, adapter):
    ada = sandbox.add_user(name="Ada")
    earlier = await adapter.send(dest(ada), Post("first"))
    answer = await adapter.send(dest(ada, earlier.room), Post("second", reply_to=earlier.message_id))
    body = sandbox.requests_to("POST", "/messages")[-1].body
    reference = body["message_reference"]
    assert str(reference["message_id"]) == earlier.message_id
    assert reference["fail_if_not_exists"] is False
    stored = sandbox.messages[answer.room][answer.message_id]
    assert stored["message_reference"]["message_id"] == earlier.message_id


async def test_hostile_text_goes_out_untouched_and_never_pings(sandbox, adapter, sink):
    """Escaping is the renderer's job; the adapter sends what it is given, with no mentions
    parsed on any post: messages, edits, interaction follow-ups and pressed-message edits."""
    ada = sandbox.add_user(name="Ada")
    sent = await adapter.send(dest(ada), Post(HOSTILE, actions=(Action("a", "Ack"),)))
    await adapter.edit(dest(ada), sent, Post(HOSTILE + " (edited)"))
    sink.reply_for = lambda event: Reply(texts=(HOSTILE,), replace=Post(HOSTILE + " (pressed)"))
    click = await sandbox.user_clicks(ada, sent.message_id, "a")
    await sandbox.wait_until(lambda: sandbox.interactions[click["id"]].followups)
    slash = await sandbox.user_slash(ada, "help")
    await sandbox.wait_until(lambda: sandbox.interactions[slash["id"]].followups)

    posts = [
        r
        for r in sandbox.requests
        if r.method in ("POST", "PATCH") and ("/messages" in r.path or r.path.startswith("/webhooks/"))
    ]
    assert len(posts) == 5  # replace applies to pressed messages only, not to the slash command
    for request in posts:
        assert request.body["allowed_mentions"] == {"parse": []}, request.path
        assert request.body["content"].startswith(HOSTILE)
    assert sandbox.spec_errors == []  # follow-ups and webhook edits are spec-valid too


async def test_edit_retires_buttons_and_delete_removes(sandbox, adapter):
    ada = sandbox.add_user(name="Ada")
    sent = await adapter.send(dest(ada), Post("Task", actions=(Action("x", "Accept"),)))
    await adapter.edit(dest(ada), sent, Post("Task (done)"))
    [patch] = sandbox.requests_to("PATCH", f"/channels/{sent.room}/messages/{sent.message_id}")
    assert patch.body["content"] == "Task (done)"
    assert patch.body["components"] == []
    assert sandbox.messages[sent.room][sent.message_id]["components"] == []

    await adapter.edit(dest(ada), sent, Post("Task (again)", actions=(Action("y", "Undo"),)))
    assert sandbox.messages[sent.room][sent.message_id]["components"][0]["components"][0]["custom_id"] == "y"

    await adapter.delete(dest(ada), sent)
    assert sent.message_id not in sandbox.messages[sent.room]
    with pytest.raises(PermanentError):
        await adapter.delete(dest(ada), sent)  # 404 Unknown Message


async def test_long_429_becomes_rate_limited_with_retry_after(sandbox, adapter):
    ada = sandbox.add_user(name="Ada")
    room = sandbox.dm_channel_of(ada)
    sandbox.inject(429, method="POST", channel_id=room, retry_after=64.5)
    with pytest.raises(RateLimited) as caught:
        await adapter.send(dest(ada, room), Post("hello"))
    assert caught.value.retry_after == pytest.approx(64.5)
    assert not caught.value.scope_all
    assert [r.status for r in sandbox.requests_to("POST", f"/channels/{room}/messages")] == [429]


async def test_429_on_one_dm_channel_does_not_hold_up_another(sandbox, adapter):
    """discord.py waits out a short retry_after in that channel's bucket only."""
    ada, bob = sandbox.add_user(name="Ada"), sandbox.add_user(name="Bob")
    ada_room, bob_room = sandbox.dm_channel_of(ada), sandbox.dm_channel_of(bob)
    sandbox.inject(429, method="POST", channel_id=ada_room, retry_after=2.0)

    ada_send = asyncio.create_task(adapter.send(dest(ada, ada_room), Post("to Ada")))
    await sandbox.wait_until(lambda: sandbox.requests_to("POST", f"/channels/{ada_room}/messages"))
    bob_ref = await adapter.send(dest(bob, bob_room), Post("to Bob"))
    ada_ref = await ada_send

    wire = [(r.path.split("/")[2], r.status) for r in sandbox.requests if r.path.endswith("/messages")]
    assert wire == [(ada_room, 429), (bob_room, 200), (ada_room, 200)]
    assert sandbox.messages[bob_room][bob_ref.message_id]["content"] == "to Bob"
    assert sandbox.messages[ada_room][ada_ref.message_id]["content"] == "to Ada"


async def test_closed_dms_make_the_recipient_unreachable(sandbox, adapter):
    ada = sandbox.add_user(name="Ada", dms_open=False)
    with pytest.raises(RecipientUnreachable):
        await adapter.send(dest(ada), Post("hello"))
    bob = sandbox.add_user(name="Bob")
    room = sandbox.dm_channel_of(bob)
    sandbox.close_dms(bob)
    with pytest.raises(RecipientUnreachable):
        await adapter.send(dest(bob, room), Post("hello"))


async def test_5xx_is_transient_and_other_4xx_permanent(sandbox, adapter):
    ada = sandbox.add_user(name="Ada")
    room = sandbox.dm_channel_of(ada)
    sandbox.inject(503, method="POST", channel_id=room, message="upstream unavailable")
    with pytest.raises(TransientError):
        await adapter.send(dest(ada, room), Post("hello"))
    with pytest.raises(PermanentError) as too_long:
        await adapter.send(dest(ada, room), Post("x" * 2001))
    assert "50035" in too_long.value.reason
    assert not isinstance(too_long.value, RecipientUnreachable)
    ref = SentRef(room=room, message_id="1")
    with pytest.raises(PermanentError):
        await adapter.edit(dest(ada), ref, Post("no such message"))


async def test_connection_failure_is_transient(sandbox, sink):
    ada = sandbox.add_user(name="Ada")
    room = sandbox.dm_channel_of(ada)
    adapter = DiscordAdapter(
        token=sandbox.token, api_base_url=sandbox.api_base, gateway_url=sandbox.gateway_url
    )
    await adapter.start(sink)
    try:
        await sandbox.stop()
        with pytest.raises(TransientError):
            await adapter.send(dest(ada, room), Post("hello"))
    finally:
        await adapter.stop()
        await adapter.stop()  # safe twice


async def test_token_never_reaches_the_logs(sandbox, sink, caplog):
    caplog.set_level(logging.DEBUG)
    ada = sandbox.add_user(name="Ada")
    adapter = DiscordAdapter(
        token=sandbox.token, api_base_url=sandbox.api_base, gateway_url=sandbox.gateway_url
    )
    await adapter.start(sink)
    try:
        await adapter.send(dest(ada), Post("hello"))
        await sandbox.user_dm(ada, "hi")
        await sandbox.wait_until(lambda: sink.events)
    finally:
        await adapter.stop()
    assert caplog.records  # discord.py did log at debug level
    assert sandbox.token not in caplog.text
