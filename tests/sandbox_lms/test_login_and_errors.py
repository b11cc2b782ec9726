"""Sign-in, tokens and the HTTP-200 error shapes."""

from __future__ import annotations

from typing import Any

from sandbox.lms import DemoSeed, SandboxLMS

from .conftest import Client, is_error


async def test_sign_in_returns_one_stable_token_per_user_and_service(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    first = await client.login("mentee1")
    second = await client.login("mentee1")
    assert first["token"] == second["token"]
    assert first["token"] != (await client.login("mentee2"))["token"]
    info = await client.call(first["token"], "core_webservice_get_site_info")
    assert (info["userid"], info["username"], info["fullname"]) == (seed.mentee1_id, "mentee1", "Sam Mentee")
    assert info["siteurl"] == lms.url
    assert info["version"] == "2024100711.02"
    assert info["release"] == "4.5.11+ (Build: 20260501)"
    assert {"name": "messaging", "value": 1} in info["advancedfeatures"]
    names = {f["name"] for f in info["functions"]}
    assert {"core_message_get_conversations", "core_message_send_instant_messages"} <= names


async def test_bad_login_answers_the_ajax_error_shape(seed: DemoSeed, client: Client) -> None:
    body = await client.login("mentee1", "wrong")
    assert body == {
        "error": "Invalid login, please try again",
        "errorcode": "invalidlogin",
        "stacktrace": None,
        "debuginfo": None,
        "reproductionlink": None,
    }
    assert (await client.login("nobody"))["errorcode"] == "invalidlogin"


async def test_each_sign_in_queues_a_new_login_notification_sent_by_cron(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    token = (await client.login("mentee2"))["token"]
    await client.login("mentee2")

    async def newlogins() -> list[dict[str, Any]]:
        body = await client.call(
            token, "core_message_get_messages", useridto=seed.mentee2_id, type="notifications", read=0
        )
        return [m for m in body["messages"] if m["eventtype"] == "newlogin"]

    assert await newlogins() == []  # queued until cron runs (observed 20)
    lms.clock.advance(90)
    sent = lms.run_cron()
    found = await newlogins()
    assert len(found) == 2 and {m["id"] for m in found} == set(sent)
    assert {m["timecreated"] for m in found} == {lms.clock.now()}  # stamped when cron sends them
    assert lms.run_cron() == []  # each sign-in once
    assert found[0]["component"] == "moodle"
    assert found[0]["useridfrom"] == -10
    assert found[0]["subject"].startswith("New sign in")


async def test_unknown_and_revoked_tokens_answer_invalidtoken_with_http_200(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    status, body = await client.raw("0" * 32, "core_webservice_get_site_info")
    assert status == 200
    assert body == {
        "exception": "core\\exception\\moodle_exception",
        "errorcode": "invalidtoken",
        "message": "Invalid token - token not found",
    }
    token = lms.issue_token(seed.mentor_id)
    assert (await client.call(token, "core_webservice_get_site_info"))["userid"] == seed.mentor_id
    lms.revoke_token(token)
    assert is_error(await client.call(token, "core_webservice_get_site_info"), "invalidtoken")


async def test_function_outside_a_restricted_service_is_an_access_exception(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    token = lms.issue_token(
        seed.mentee1_id, service="pluto_bridge", functions={"core_webservice_get_site_info"}
    )
    info = await client.call(token, "core_webservice_get_site_info")
    assert [f["name"] for f in info["functions"]] == ["core_webservice_get_site_info"]
    body = await client.call(token, "core_message_get_conversations", userid=seed.mentee1_id)
    assert body == {
        "exception": "webservice_access_exception",
        "errorcode": "accessexception",
        "message": "Access control exception",
    }


async def test_missing_or_malformed_arguments_are_invalidparameter(
    seed: DemoSeed, lms: SandboxLMS, client: Client
) -> None:
    token = lms.issue_token(seed.mentee1_id)
    expected = {
        "exception": "core\\exception\\invalid_parameter_exception",
        "errorcode": "invalidparameter",
        "message": "Invalid parameter value detected",
    }
    assert await client.call(token, "core_message_get_conversations") == expected
    assert await client.call(token, "core_message_get_conversations", userid="five") == expected
    assert (
        await client.call(token, "core_message_get_conversations", userid=seed.mentee1_id, bogus=1)
        == expected
    )


async def test_unknown_function_is_a_missing_external_functions_record(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    body = await client.call(lms.admin_token, "core_message_no_such_function")
    assert body == {
        "exception": "dml_missing_record_exception",
        "errorcode": "invalidrecord",
        "message": "Can't find data record in database table external_functions.",
    }


async def test_acting_for_another_user_without_rights(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    token = lms.issue_token(seed.mentee1_id)
    conv = await client.call(
        token,
        "core_message_get_conversation_messages",
        currentuserid=seed.mentor_id,
        convid=seed.group_conversation_id,
    )
    assert conv == {  # observed 4b
        "exception": "core\\exception\\moodle_exception",
        "errorcode": "You do not have permission to perform this action.",
        "message": "error/You do not have permission to perform this action.",
    }
    msgs = await client.call(token, "core_message_get_messages", useridto=seed.mentee2_id, read=2)
    assert msgs == {  # observed 7e
        "exception": "core\\exception\\moodle_exception",
        "errorcode": "accessdenied",
        "message": "Access denied",
    }
    # The admin token may act for anyone.
    body = await client.call(lms.admin_token, "core_message_get_conversations", userid=seed.mentee2_id)
    assert "conversations" in body


async def test_get_and_post_arguments_are_merged(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    token = lms.issue_token(seed.mentee1_id)
    url = f"{lms.url}/webservice/rest/server.php?wstoken={token}&moodlewsrestformat=json"
    async with client.session.post(
        url, data={"wsfunction": "core_user_get_users_by_field", "field": "username", "values[0]": "mentee1"}
    ) as resp:
        users = await resp.json()
    assert [u["id"] for u in users] == [seed.mentee1_id]
    assert lms.calls[-1].function == "core_user_get_users_by_field"
    assert lms.calls[-1].params == {"field": "username", "values": ["mentee1"]}
    assert lms.calls[-1].userid == seed.mentee1_id


async def test_outage_answers_503_until_it_ends(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    lms.set_down(True)
    async with client.session.post(f"{lms.url}/webservice/rest/server.php") as resp:
        assert resp.status == 503
    lms.set_down(False)
    assert "token" in await client.login("mentee1")


async def test_unknown_user_ids_are_invalidparameter_with_http_200(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    status, body = await client.raw(lms.admin_token, "core_message_get_user_message_preferences", userid=999)
    assert status == 200
    assert is_error(body, "invalidparameter")


async def test_expired_token_is_refused_once_then_gone_and_sign_in_issues_a_new_one(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    token = (await client.login("mentee1"))["token"]
    lms.expire_token(token)
    first = await client.call(token, "core_webservice_get_site_info")
    assert is_error(first, "accessexception")
    assert is_error(await client.call(token, "core_webservice_get_site_info"), "invalidtoken")
    fresh = (await client.login("mentee1"))["token"]
    assert fresh != token
    assert (await client.call(fresh, "core_webservice_get_site_info"))["userid"] == seed.mentee1_id


async def test_suspended_user_and_maintenance(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    token = lms.issue_token(seed.mentee2_id)
    lms.suspend_user(seed.mentee2_id)
    assert is_error(await client.call(token, "core_webservice_get_site_info"), "accessexception")
    assert (await client.login("mentee2"))["errorcode"] == "invalidlogin"
    lms.suspend_user(seed.mentee2_id, False)
    lms.set_maintenance(True)
    assert is_error(await client.call(token, "core_webservice_get_site_info"), "sitemaintenance")
    assert (await client.login("mentee2"))["errorcode"] == "sitemaintenance"
    lms.set_maintenance(False)
    assert (await client.call(token, "core_webservice_get_site_info"))["userid"] == seed.mentee2_id
