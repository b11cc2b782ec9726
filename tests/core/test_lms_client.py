"""The LMS client against the sandbox LMS: encoding, typed errors, retries, quirks."""

from __future__ import annotations

import asyncio

import pytest

from bridge.lms.api import LmsApi
from bridge.lms.client import LmsClient, encode_params
from bridge.lms.errors import (
    AccessException,
    FunctionUnavailable,
    InvalidParameter,
    InvalidToken,
    LmsUnavailable,
    LoginFailed,
    SendRefused,
)
from sandbox.lms import DemoSeed, SandboxLMS


def test_bracket_encoding() -> None:
    assert encode_params({"messages": [{"touserid": 5, "text": "hi"}], "flag": True, "skip": None}) == [
        ("messages[0][touserid]", "5"),
        ("messages[0][text]", "hi"),
        ("flag", "1"),
    ]
    assert encode_params({"values": ["a", "b"]}) == [("values[0]", "a"), ("values[1]", "b")]


async def test_login_and_site_info(lms: SandboxLMS, seed: DemoSeed) -> None:
    async with LmsClient(lms.url) as client:
        token = await client.login("mentee1", "Passw0rd!")
        info = await LmsApi(client).site_info(token)
        with pytest.raises(LoginFailed) as failed:
            await client.login("mentee1", "wrong")
    assert (info.userid, info.username, info.generation, info.messaging) == (
        seed.mentee1_id,
        "mentee1",
        "modern",
        True,
    )
    assert failed.value.errorcode == "invalidlogin"


async def test_errors_are_typed(lms: SandboxLMS, seed: DemoSeed) -> None:
    limited = lms.issue_token(seed.mentee1_id, service="limited", functions={"core_webservice_get_site_info"})
    async with LmsClient(lms.url) as client:
        api = LmsApi(client)
        with pytest.raises(InvalidToken):
            await api.site_info("nonsense")
        with pytest.raises(FunctionUnavailable):
            await api.conversations(limited, seed.mentee1_id, 5)
        with pytest.raises(InvalidParameter):
            await client.call(lms.admin_token, "core_user_get_users_by_field", field="username")


async def test_a_function_outside_the_service_is_not_a_dead_token(lms: SandboxLMS, seed: DemoSeed) -> None:
    # Moodle answers accessexception for both; only a dead token also fails site info.
    functions = {"core_webservice_get_site_info", "core_message_get_conversations"}
    limited = lms.issue_token(seed.mentee1_id, service="limited", functions=functions)
    expired = lms.issue_token(seed.mentee2_id)
    lms.expire_token(expired)
    async with LmsClient(lms.url) as client:
        with pytest.raises(FunctionUnavailable) as missing:
            await client.call(limited, "core_message_mark_notification_read", notificationid=1, timeread=0)
        with pytest.raises(AccessException) as dead:
            await client.call(expired, "core_message_get_conversations", userid=seed.mentee2_id)
    assert not isinstance(missing.value, AccessException)
    assert "does not offer core_message_mark_notification_read" in missing.value.message
    assert not isinstance(dead.value, FunctionUnavailable)


async def test_refusal_is_send_refused_with_the_lms_reason(lms: SandboxLMS, seed: DemoSeed) -> None:
    lms.block(seed.mentee2_id, seed.mentee1_id)
    async with LmsClient(lms.url) as client:
        with pytest.raises(SendRefused) as refused:
            await LmsApi(client).send_instant_message(lms.issue_token(seed.mentee1_id), seed.mentee2_id, "hi", "pb:1")
    assert refused.value.message  # Moodle's own sentence, shown to the person
    assert "Alex" in refused.value.message or "message" in refused.value.message.lower()


async def test_retries_transport_errors_then_gives_up(lms: SandboxLMS) -> None:
    lms.set_down(True)
    async with LmsClient(lms.url, retries=2, backoff_max=0.05) as client:
        before = len(lms.calls)
        with pytest.raises(LmsUnavailable):
            await LmsApi(client).site_info(lms.admin_token)
    assert len(lms.calls) == before  # 503s never reached the web services


async def test_a_send_that_timed_out_is_not_sent_again(lms: SandboxLMS, seed: DemoSeed) -> None:
    token = lms.issue_token(seed.mentee1_id)
    lms.set_answer_delay(0.6)  # Pluto stores the message, but answers after the client gave up
    async with LmsClient(lms.url, timeout=0.2, retries=2, backoff_max=0.05) as client:
        with pytest.raises(LmsUnavailable) as timed_out:
            await LmsApi(client).send_instant_message(token, seed.mentor_id, "only once", "pb-1")
    conversation = lms.conversation_between(seed.mentee1_id, seed.mentor_id)
    assert [m["text"] for m in lms.messages_in(conversation or 0)] == ["only once"]
    assert timed_out.value.reached  # so the person is told it may have arrived


async def test_recovers_when_the_lms_comes_back_during_retries(lms: SandboxLMS) -> None:
    lms.set_down(True)
    loop = asyncio.get_running_loop()
    loop.call_later(0.3, lms.set_down, False)
    async with LmsClient(lms.url, retries=6, backoff_max=0.2) as client:
        info = await LmsApi(client).site_info(lms.admin_token)
    assert info.username == "admin"


async def test_unreachable_host_is_unavailable() -> None:
    async with LmsClient("http://127.0.0.1:9", retries=1, backoff_max=0.01, timeout=2) as client:
        with pytest.raises(LmsUnavailable, match="unreachable"):
            await client.call("t", "core_webservice_get_site_info")


async def test_same_second_timefrom_is_an_empty_answer(lms: SandboxLMS, seed: DemoSeed) -> None:
    lms.clock.freeze(1_800_000_000)
    sent = lms.post_message(seed.mentor_id, seed.mentee1_id, "now")
    token = lms.issue_token(seed.mentee1_id)
    async with LmsClient(lms.url) as client:
        api = LmsApi(client)
        # Moodle answers invalidresponse for timefrom == now (observed 5e); the client reads it as "nothing yet".
        messages, _ = await api.conversation_messages(token, seed.mentee1_id, sent["conversationid"], 1_800_000_000)
        assert messages == []
        lms.clock.advance(1)
        messages, names = await api.conversation_messages(token, seed.mentee1_id, sent["conversationid"], 1_800_000_000)
    assert [m.id for m in messages] == [sent["msgid"]]
    assert names[seed.mentor_id] == "Maya Mentor"


async def test_a_lone_surrogate_from_the_lms_arrives_as_a_replacement_character(
    lms: SandboxLMS, seed: DemoSeed
) -> None:
    # A broken LMS or proxy can send "\ud850" (valid JSON, not valid Unicode): the client
    # replaces it once, so nothing downstream meets text UTF-8 cannot encode (issue 14.1).
    sent = lms.post_message(seed.mentor_id, seed.mentee1_id, "placeholder")
    stored = next(m for m in lms.state.messages.values() if m.id == sent["msgid"])
    stored.text = "before \ud850 after \U0001f600"  # what the broken proxy sent
    async with LmsClient(lms.url) as client:
        token = lms.issue_token(seed.mentee1_id)
        found = await LmsApi(client).conversation_messages(token, seed.mentee1_id, sent["conversationid"], 0)
    texts = [m.text for m in found[0]]
    assert any("before \ufffd after \U0001f600" in t for t in texts), texts
    assert all(t.encode("utf-8") for t in texts)


async def test_a_function_the_sites_service_lacks_is_function_unavailable(lms: SandboxLMS, seed: DemoSeed) -> None:
    # As production meets it (moodle-4.5-observed.md item 24): the site has the function, the
    # administrator left it out of the service, an ordinary token of that service calls it.
    lms.remove_from_service("core_message_get_conversations")
    token = lms.issue_token(seed.mentee1_id)
    async with LmsClient(lms.url) as client:
        api = LmsApi(client)
        with pytest.raises(FunctionUnavailable) as missing:
            await api.conversations(token, seed.mentee1_id, 10)
        assert (await api.site_info(token)).userid == seed.mentee1_id  # the token itself is fine
    assert missing.value.errorcode == "accessexception"
    assert "does not offer core_message_get_conversations" in missing.value.message
