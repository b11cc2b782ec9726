"""The airnotifier output follows Moodle's ``message_airnotifier``: device registration before
the first push, headers, body fields, one POST per device, 2 s timeout, and what is not pushed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from sandbox.lms import DemoSeed, SandboxLMS

from .conftest import Client


@dataclass
class Receiver:
    """A stand-in AirNotifier on 127.0.0.1 recording what it receives."""

    url: str = ""
    port: int = 0
    pushes: list[dict[str, Any]] = field(default_factory=list)
    tokens: list[dict[str, Any]] = field(default_factory=list)
    token_status: str = "ok"
    delay: float = 0.0


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()

    async def push(request: web.Request) -> web.Response:
        rec.pushes.append({"headers": dict(request.headers), "body": await request.json(), "path": request.path})
        if rec.delay:
            await asyncio.sleep(rec.delay)
        return web.json_response({"status": "ok"}, status=202)

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        rec.tokens.append({"headers": dict(request.headers), "form": dict(form), "path": request.path})
        return web.json_response({"status": rec.token_status})

    app = web.Application()
    # Moodle appends ":{port}" to the URL setting, path included: here the URL is
    # http://127.0.0.1:{port}/an and the port setting 443, so paths start with /an:443.
    app.router.add_post("/an:443/api/v2/push/", push)
    app.router.add_post("/an:443/tokens/{pushid}", token)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.port = runner.addresses[0][1]
    rec.url = f"http://127.0.0.1:{rec.port}/an"
    yield rec
    await runner.cleanup()


DEVICE = {"name": "bridge", "model": "bridge", "platform": "android", "version": "1"}


async def register(client: Client, token: str, pushid: str, appid: str = "com.moodle.moodlemobile") -> None:
    device = {**DEVICE, "appid": appid, "pushid": pushid, "uuid": f"uuid-{pushid}"}
    assert await client.call(token, "core_user_add_user_device", **device) == []


async def test_registration_then_one_push_per_device_with_moodles_headers_and_fields(
    lms: SandboxLMS, seed: DemoSeed, client: Client, receiver: Receiver
) -> None:
    lms.set_airnotifier(receiver.url, appname="plutobridge", accesskey="k3y")
    token = lms.issue_token(seed.mentee1_id)
    await register(client, token, "push-a")
    await register(client, token, "push-b")
    await register(client, token, "other-app", appid="org.example.other")
    sent = lms.post_message(seed.mentor_id, seed.mentee1_id, "Hello <b>there</b>")
    nid = lms.notify(seed.mentee1_id, subject="Due soon", text="Essay due", component="mod_assign", eventtype="due")
    lms.notify(seed.mentee2_id, subject="not registered", text="nobody listens")
    await lms.flush_pushes()

    # Each device's push id is registered once, before its first push, with its platform.
    assert [t["path"] for t in receiver.tokens] == ["/an:443/tokens/push-a", "/an:443/tokens/push-b"]
    assert receiver.tokens[0]["form"] == {"device": "android"}
    assert [k.kind for k in lms.pushes[:3]] == ["token", "push", "token"]
    # One POST per device per item; the other app's device gets nothing.
    assert [p["body"]["token"] for p in receiver.pushes] == ["push-a", "push-b", "push-a", "push-b"]
    first = receiver.pushes[0]
    assert first["path"] == "/an:443/api/v2/push/"
    headers = first["headers"]
    assert (headers["X-AN-APP-NAME"], headers["X-AN-APP-KEY"], headers["Accept"]) == (
        "plutobridge",
        "k3y",
        "application/json",
    )
    assert first["body"]["device"] == "android"
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
    assert (extra["component"], extra["name"], extra["processor"], extra["encrypted"]) == (
        "moodle",
        "instantmessage",
        "moodle",
        False,
    )
    assert extra["wwwroot"] == lms.url and extra["site"] != "" and isinstance(extra["date"], int)
    note = receiver.pushes[2]["body"]["extra"]
    assert (note["notification"], note["savedmessageid"], note["component"], note["name"]) == (
        1,
        nid,
        "mod_assign",
        "due",
    )


async def test_a_failed_registration_skips_the_device_and_is_retried(
    lms: SandboxLMS, seed: DemoSeed, client: Client, receiver: Receiver
) -> None:
    lms.set_airnotifier(receiver.url)
    await register(client, lms.issue_token(seed.mentee1_id), "push-a")
    receiver.token_status = "error"
    lms.post_message(seed.mentor_id, seed.mentee1_id, "first")
    await lms.flush_pushes()
    assert receiver.pushes == [] and len(receiver.tokens) == 1
    receiver.token_status = "token exists"
    lms.post_message(seed.mentor_id, seed.mentee1_id, "second")
    lms.post_message(seed.mentor_id, seed.mentee1_id, "third")
    await lms.flush_pushes()
    assert len(receiver.tokens) == 2
    assert [p["body"]["extra"]["smallmessage"] for p in receiver.pushes] == ["second", "third"]


async def test_a_slow_receiver_is_given_up_after_two_seconds(
    lms: SandboxLMS, seed: DemoSeed, client: Client, receiver: Receiver
) -> None:
    lms.set_airnotifier(receiver.url)
    await register(client, lms.issue_token(seed.mentee1_id), "push-a")
    receiver.delay = 5.0
    lms.post_message(seed.mentor_id, seed.mentee1_id, "slow")
    await lms.flush_pushes()
    push = next(p for p in lms.pushes if p.kind == "push")
    assert push.status is None and push.error is not None and "Timeout" in push.error


async def test_muted_self_unconfigured_and_mobile_output_off_push_nothing(
    lms: SandboxLMS, seed: DemoSeed, client: Client, receiver: Receiver
) -> None:
    token = lms.issue_token(seed.mentee1_id)
    await register(client, token, "push-mentee1")
    lms.post_to_conversation(seed.mentor_id, seed.group_conversation_id, "before the url is set")
    lms.set_airnotifier(receiver.url, accesskey="")  # incomplete settings: the output is off
    lms.post_message(seed.mentor_id, seed.mentee1_id, "access key missing")
    lms.set_airnotifier(receiver.url)
    await client.call(
        token, "core_message_mute_conversations", userid=seed.mentee1_id, conversationids=[seed.group_conversation_id]
    )
    lms.post_to_conversation(seed.mentor_id, seed.group_conversation_id, "muted for mentee1")
    # The Mobile output off for a type: that type is not pushed, others are.
    lms.set_preference(seed.mentee1_id, "message_provider_mod_assign_due_enabled", "popup,email")
    lms.notify(seed.mentee1_id, subject="Due", text="mobile off", component="mod_assign", eventtype="due")
    self_conv = lms.state.self_conversation(seed.mentee1_id).id
    lms.post_to_conversation(seed.mentee1_id, self_conv, "a note to myself")
    lms.notify(seed.mentee1_id, subject="Graded", text="mobile on", component="mod_assign", eventtype="graded")
    await lms.flush_pushes()
    assert [p["body"]["extra"]["smallmessage"] for p in receiver.pushes] == ["mobile on"]


async def test_device_web_services_and_encrypted_sites(
    lms: SandboxLMS, seed: DemoSeed, client: Client, receiver: Receiver
) -> None:
    token = lms.issue_token(seed.mentee1_id)
    await register(client, token, "push-mentee1")
    lms.set_airnotifier(receiver.url, encrypt=True)
    lms.post_message(seed.mentor_id, seed.mentee1_id, "no key yet: not sent")
    await lms.flush_pushes()
    assert receiver.pushes == []
    answer = await client.call(
        token,
        "core_user_update_user_device_public_key",
        uuid="uuid-push-mentee1",
        appid="com.moodle.moodlemobile",
        publickey="cHVibGljLWtleQ==",
    )
    assert answer == {"status": True, "warnings": []}
    lms.post_message(seed.mentor_id, seed.mentee1_id, "secret")
    await lms.flush_pushes()
    (push,) = receiver.pushes
    extra = push["body"]["extra"]
    assert extra["encrypted"] is True and "usertoid" not in extra and extra["smallmessage"] != "secret"
    assert push["body"]["alert"] is None
    removed = await client.call(token, "core_user_remove_user_device", uuid="uuid-push-mentee1")
    assert removed == {"removed": True, "warnings": []}
    assert lms.devices == []
    lms.post_message(seed.mentor_id, seed.mentee1_id, "device gone")
    await lms.flush_pushes()
    assert len(receiver.pushes) == 1


async def test_a_long_message_is_cut_to_tap_to_view(
    lms: SandboxLMS, seed: DemoSeed, client: Client, receiver: Receiver
) -> None:
    lms.set_airnotifier(receiver.url)
    await register(client, lms.issue_token(seed.mentee1_id), "push-a")
    lms.notify(seed.mentee1_id, subject="Long", text="x" * 5000)
    await lms.flush_pushes()
    assert receiver.pushes[0]["body"]["extra"]["smallmessage"] == "Tap to view"
