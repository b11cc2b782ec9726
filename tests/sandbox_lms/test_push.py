"""The airnotifier output: registered devices get a POST per new message or notification."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from sandbox.lms import DemoSeed, SandboxLMS

from .conftest import Client


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A stand-in airnotifier server on 127.0.0.1 recording what it receives."""
    received: list[dict[str, Any]] = []

    async def push(request: web.Request) -> web.Response:
        received.append(
            {"headers": dict(request.headers), "body": await request.json(), "path": request.path}
        )
        return web.json_response({"status": "ok"}, status=202)

    app = web.Application()
    app.router.add_post("/api/v2/push/", push)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", received
    await runner.cleanup()


async def register(client: Client, token: str, pushid: str) -> None:
    device = {
        "appid": "com.moodle.moodlemobile",
        "name": "bridge",
        "model": "bridge",
        "platform": "android",
        "version": "1",
        "pushid": pushid,
        "uuid": f"uuid-{pushid}",
    }
    assert await client.call(token, "core_user_add_user_device", **device) == []


async def test_messages_and_notifications_are_pushed_to_registered_devices(
    lms: SandboxLMS, seed: DemoSeed, client: Client, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = receiver
    lms.set_airnotifier(url, appname="plutobridge", accesskey="k3y")
    await register(client, lms.issue_token(seed.mentee1_id), "push-mentee1")
    sent = lms.post_message(seed.mentor_id, seed.mentee1_id, "Hello <b>there</b>")
    nid = lms.notify(
        seed.mentee1_id, subject="Due soon", text="Essay due", component="mod_assign", eventtype="due"
    )
    lms.notify(seed.mentee2_id, subject="not registered", text="nobody listens")
    await lms.flush_pushes()
    assert len(received) == 2
    first, second = received
    assert first["headers"]["X-AN-APP-NAME"] == "plutobridge" and first["headers"]["X-AN-APP-KEY"] == "k3y"
    assert first["body"]["device"] == "android" and first["body"]["token"] == "push-mentee1"
    extra = first["body"]["extra"]
    assert (extra["notification"], extra["savedmessageid"], extra["convid"]) == (
        0,
        sent["msgid"],
        sent["conversationid"],
    )
    assert (extra["userfromid"], extra["usertoid"], extra["smallmessage"]) == (
        seed.mentor_id,
        seed.mentee1_id,
        "Hello there",
    )
    assert extra["wwwroot"] == lms.url
    note = second["body"]["extra"]
    assert (note["notification"], note["savedmessageid"], note["component"], note["name"]) == (
        1,
        nid,
        "mod_assign",
        "due",
    )
    assert [p.status for p in lms.pushes] == [202, 202]


async def test_muted_conversations_and_an_unset_url_push_nothing(
    lms: SandboxLMS, seed: DemoSeed, client: Client, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = receiver
    token = lms.issue_token(seed.mentee1_id)
    await register(client, token, "push-mentee1")
    lms.post_to_conversation(seed.mentor_id, seed.group_conversation_id, "before the url is set")
    lms.set_airnotifier(url)
    await client.call(
        token,
        "core_message_mute_conversations",
        userid=seed.mentee1_id,
        conversationids=[seed.group_conversation_id],
    )
    lms.post_to_conversation(seed.mentor_id, seed.group_conversation_id, "muted for mentee1")
    await lms.flush_pushes()
    assert received == []
    removed = await client.call(token, "core_user_remove_user_device", uuid="uuid-push-mentee1")
    assert removed == {"removed": True, "warnings": []}
