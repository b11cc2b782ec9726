"""Totara mode: legacy messaging (ids change on read), tasks and alerts, custom task functions."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from sandbox.lms import Clock, DemoSeed, SandboxLMS

from .conftest import T0, Client, is_error


@pytest.fixture
async def totara() -> AsyncIterator[SandboxLMS]:
    clock = Clock()
    clock.freeze(T0)
    server = SandboxLMS(mode="totara", clock=clock)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def tseed(totara: SandboxLMS) -> DemoSeed:
    return totara.seed_demo()


@pytest.fixture
async def tclient(totara: SandboxLMS) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session:
        yield Client(session, totara.url)


async def test_site_info_lists_no_conversation_functions(
    totara: SandboxLMS, tseed: DemoSeed, tclient: Client
) -> None:
    token = totara.issue_token(tseed.mentee1_id)
    info = await tclient.call(token, "core_webservice_get_site_info")
    names = {f["name"] for f in info["functions"]}
    assert "core_message_get_conversations" not in names
    assert "core_message_create_contact_request" not in names
    assert {"core_message_get_messages", "local_pluto_get_tasks", "local_pluto_task_action"} <= names
    assert info["release"].startswith("Totara")
    body = await tclient.call(token, "core_message_get_conversations", userid=tseed.mentee1_id)
    assert is_error(body, "invalidrecord")  # not in external_functions at all
    assert tseed.group_conversation_id == 0  # Totara has no group conversations


async def test_send_result_shape_and_legacy_refusals(
    totara: SandboxLMS, tseed: DemoSeed, tclient: Client
) -> None:
    token = totara.issue_token(tseed.mentee2_id)
    sent = await tclient.call(
        token,
        "core_message_send_instant_messages",
        messages=[{"touserid": tseed.mentee1_id, "text": "a <b>", "textformat": 2, "clientmsgid": "t1"}],
    )
    assert sent == [{"msgid": sent[0]["msgid"], "clientmsgid": "t1", "msgtext": "<p>a &lt;b&gt;</p>"}]
    totara.set_preference(tseed.mentee1_id, "message_blocknoncontacts", "1")
    [refused] = await tclient.call(
        token, "core_message_send_instant_messages", messages=[{"touserid": tseed.mentee1_id, "text": "x"}]
    )
    assert refused == {"msgid": -1, "errormessage": "Sam Mentee only accepts messages from their contacts."}
    totara.set_preference(tseed.mentee1_id, "message_blocknoncontacts", "0")
    totara.block(tseed.mentee1_id, tseed.mentee2_id)
    [blocked] = await tclient.call(
        token, "core_message_send_instant_messages", messages=[{"touserid": tseed.mentee1_id, "text": "x"}]
    )
    assert blocked["msgid"] == -1 and "blocked" in blocked["errormessage"]


async def test_mark_read_moves_the_message_under_a_new_id(
    totara: SandboxLMS, tseed: DemoSeed, tclient: Client
) -> None:
    first = totara.post_message(tseed.mentor_id, tseed.mentee1_id, "hello")
    token = totara.issue_token(tseed.mentee1_id)
    unread = await tclient.call(
        token, "core_message_get_messages", useridto=tseed.mentee1_id, type="conversations", read=0
    )
    [row] = unread["messages"]
    assert row["id"] == first["msgid"]
    assert "component" not in row and "customdata" not in row
    marked = await tclient.call(token, "core_message_mark_message_read", messageid=first["msgid"])
    read = await tclient.call(
        token, "core_message_get_messages", useridto=tseed.mentee1_id, type="conversations"
    )
    [read_row] = read["messages"]
    assert read_row["id"] == marked["messageid"]
    assert read_row["text"] == "<p>hello</p>"
    gone = await tclient.call(token, "core_message_mark_message_read", messageid=first["msgid"])
    assert gone["exception"] == "dml_missing_record_exception"


async def test_messages_and_notifications_share_one_id_sequence(totara: SandboxLMS, tseed: DemoSeed) -> None:
    note = totara.notify(tseed.mentee1_id, subject="n", text="n")
    msg = totara.post_message(tseed.mentor_id, tseed.mentee1_id, "m")
    assert msg["msgid"] == note + 1


async def test_tasks_list_accept_runs_the_workflow_and_dismisses(
    totara: SandboxLMS, tseed: DemoSeed, tclient: Client
) -> None:
    task_id = totara.task(
        tseed.mentor_id,
        "Approve Sam's seminar booking",
        "Sam asks for a seat on Intro to Mentoring",
        workflow="facetoface",
        data={"signupid": 7},
        useridfrom=tseed.mentee1_id,
        acceptbutton="Approve",
        rejectbutton="Decline",
    )
    totara.alert(tseed.mentor_id, "Seminar moved", "The seminar moved to room 4")
    token = totara.issue_token(tseed.mentor_id)
    tasks = await tclient.call(token, "local_pluto_get_tasks", type="task")
    [task] = tasks["tasks"]
    assert (task["id"], task["type"], task["canaccept"], task["acceptbutton"]) == (
        task_id,
        "task",
        True,
        "Approve",
    )
    assert task["msgtype"] == 7 and task["msgstatus"] == 0
    alerts = await tclient.call(token, "local_pluto_get_tasks", type="alert")
    assert [a["canaccept"] for a in alerts["tasks"]] == [False]
    popup = await tclient.call(token, "message_popup_get_popup_notifications", useridto=0)
    assert all(
        n["subject"] != "Approve Sam's seminar booking" for n in popup["notifications"]
    )  # tasks: no popup

    other = await tclient.call(
        totara.issue_token(tseed.mentee2_id), "local_pluto_task_action", messageid=task_id, action="accept"
    )
    assert is_error(other, "invalidparameter")  # only the recipient acts
    done = await tclient.call(
        token, "local_pluto_task_action", messageid=task_id, action="accept", reasonfordecision="Enjoy"
    )
    assert done["status"] is True and done["newmessageid"] != task_id
    [ran] = totara.task_actions
    assert (ran.action, ran.reasonfordecision, ran.workflow, ran.data) == (
        "accept",
        "Enjoy",
        "facetoface",
        {"signupid": 7},
    )
    assert (await tclient.call(token, "local_pluto_get_tasks", type="task")) == {"tasks": []}


async def test_a_refusing_workflow_keeps_the_task_and_alerts_only_dismiss(
    totara: SandboxLMS, tseed: DemoSeed, tclient: Client
) -> None:
    task_id = totara.task(
        tseed.mentor_id, "Extension", "Please extend", workflow="prog_extension", outcome=False
    )
    alert_id = totara.alert(tseed.mentor_id, "FYI", "Just so you know")
    token = totara.issue_token(tseed.mentor_id)
    refused = await tclient.call(token, "local_pluto_task_action", messageid=task_id, action="reject")
    assert refused["status"] is False
    assert [t["id"] for t in (await tclient.call(token, "local_pluto_get_tasks", type="task"))["tasks"]] == [
        task_id
    ]
    bad = await tclient.call(token, "local_pluto_task_action", messageid=alert_id, action="accept")
    assert is_error(bad, "invalidparameter")
    dismissed = await tclient.call(token, "local_pluto_task_action", messageid=alert_id, action="dismiss")
    assert dismissed["status"] is True
    assert (await tclient.call(token, "local_pluto_get_tasks", type="alert")) == {"tasks": []}
    assert [a.action for a in totara.task_actions] == ["reject"]


async def test_legacy_contacts(totara: SandboxLMS, tseed: DemoSeed, tclient: Client) -> None:
    token = totara.issue_token(tseed.mentee1_id)
    assert await tclient.call(token, "core_message_create_contacts", userids=[tseed.mentee2_id]) == []
    totara.post_message(tseed.mentor_id, tseed.mentee1_id, "psst")
    contacts = await tclient.call(token, "core_message_get_contacts")
    assert [c["id"] for c in contacts["offline"]] == [tseed.mentee2_id]
    assert [(c["id"], c["unread"]) for c in contacts["strangers"]] == [(tseed.mentor_id, 1)]
    assert await tclient.call(token, "core_message_block_contacts", userids=[tseed.mentee2_id]) == []
    assert (await tclient.call(token, "core_message_get_contacts"))["offline"] == []
    assert await tclient.call(token, "core_message_unblock_contacts", userids=[tseed.mentee2_id]) is None
