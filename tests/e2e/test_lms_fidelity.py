"""End to end against the sandbox behaving as a stock Moodle 4.5 / Totara site does (issue 11):
the real ``pluto-bridge run`` process, the console as the person's chat."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bridge.lms.client import LmsClient
from sandbox.lms import DemoSeed, SandboxLMS
from tests.e2e.harness import BridgeProcess, bridge_config
from tests.e2e.test_alerts_tasks import totara  # noqa: F401 (fixture: Totara site with local_pluto, Sam linked)
from tests.lms_side import unread_notification_ids, ws
from tests.support import lms_texts, until

pytestmark = pytest.mark.e2e

SAME = r"(?:(?!\n--- #).)*"  # within one console message


def unread_from(lms: SandboxLMS, sender: int, recipient: int) -> int:
    """Messages from ``sender`` that ``recipient`` has not read, as the LMS keeps them."""
    return sum(
        1
        for m in lms.state.messages.values()
        if m.useridfrom == sender and recipient not in m.read_by
        and recipient in lms.state.members(lms.state.conversations[m.conversationid])
    )


@pytest.fixture
async def bridge(lms: SandboxLMS, seed: DemoSeed, tmp_path: Path) -> AsyncIterator[BridgeProcess]:
    """The bridge, Sam (mentee1) linked through the real sign-in page."""
    config, _port = bridge_config(tmp_path, lms.url)
    process = await BridgeProcess(config).start()
    try:
        await process.expect(r"send /link")
        await process.link("mentee1")
        yield process
    finally:
        await process.stop()


async def test_a_message_of_0_is_delivered_without_waiting_for_another(
    bridge: BridgeProcess, lms: SandboxLMS, seed: DemoSeed
) -> None:
    # Moodle lists a conversation whose latest message is "0" with unreadcount 1 and no
    # messages (moodle-4.5-observed.md item 18); the answer must still arrive, well before
    # the 60 s sweep and with nothing sent after it.
    lms.post_message(seed.mentee2_id, seed.mentee1_id, "How many sessions did you miss?")
    await bridge.expect(r"Alex Mentee\n\nHow many sessions did you miss\?")
    mark = len(bridge.out)
    lms.post_message(seed.mentee2_id, seed.mentee1_id, "0")
    await bridge.expect(r"--- #\d+ ---\nAlex Mentee\n\n0(?:\n|$)", timeout=10, after=mark)
    assert bridge.count("How many sessions did you miss?") == 1


async def test_a_totara_task_created_between_the_reads_arrives_once_and_as_a_task(
    totara: tuple[SandboxLMS, DemoSeed, BridgeProcess],  # noqa: F811
) -> None:
    lms, seed, bridge = totara
    created: list[int] = []

    def between_the_reads(params: dict[str, Any]) -> bool:
        # Right after the bridge read the alert list, before its next poll: read in the old
        # order (task list, alert list, then unread notifications) the unread read met the
        # task first and showed it as an alert, "Mark read" only.
        if params.get("type") != "alert":
            return False
        created.append(lms.task(seed.mentee1_id, "Approve booking: Eli", "Eli asks for a seat", acceptbutton="Approve"))
        return True

    mark = len(bridge.out)
    lms.after_call("local_pluto_get_tasks", between_the_reads)
    task = rf"--- #(\d+) ---\nApprove booking: Eli{SAME}\[1\] Approve  \[2\] Reject  \[3\] Dismiss"
    number = (await bridge.expect(task, after=mark)).group(1)
    await bridge.type(f"/press {number} 1")
    await bridge.expect(r"Accepted by Sam Mentee in the console", after=mark)
    assert [(a.messageid, a.action) for a in lms.task_actions] == [(created[0], "accept")]
    assert len(re.findall(r"--- #\d+ ---\nApprove booking: Eli", bridge.text)) == 1
    assert not re.search(rf"Approve booking: Eli{SAME}Mark read", bridge.text)


async def test_a_task_first_met_as_an_unread_notification_becomes_the_task_in_place(
    totara: tuple[SandboxLMS, DemoSeed, BridgeProcess],  # noqa: F811
) -> None:
    lms, seed, bridge = totara
    mark = len(bridge.out)
    task = lms.task(seed.mentee1_id, "Approve booking: Ivy", "Ivy asks for a seat", acceptbutton="Approve")
    # Totara writes a task's metadata after its row: the task list shows it a poll or two
    # after the unread read does (two list reads, so that whichever poll first meets the
    # row, it meets it as an unread notification only).
    lms.delay_task_listing(task, reads=2)
    number = (
        await bridge.expect(rf"--- #(\d+) ---\nApprove booking: Ivy{SAME}\[1\] Mark read", after=mark)
    ).group(1)
    # The read that lists it as a task turns the same chat message into the task: one item
    # per LMS notification id, buttons and all, never a second message.
    await bridge.expect(
        rf"--- #{number} \(updated\) ---\nApprove booking: Ivy{SAME}\[1\] Approve  \[2\] Reject  \[3\] Dismiss",
        after=mark,
    )
    await bridge.type(f"/press {number} 1")
    await bridge.expect(r"Accepted by Sam Mentee in the console", after=mark)
    assert [(a.messageid, a.action) for a in lms.task_actions] == [(task, "accept")]
    assert len(re.findall(r"--- #\d+ ---\nApprove booking: Ivy", bridge.text)) == 1


async def test_totara_private_messages_arrive_once_in_order_and_replies_route_back(
    totara: tuple[SandboxLMS, DemoSeed, BridgeProcess],  # noqa: F811
) -> None:
    lms, seed, bridge = totara
    mark = len(bridge.out)
    lms.post_message(seed.mentor_id, seed.mentee1_id, "Totara hello from Maya")
    lms.post_message(seed.mentor_id, seed.mentee1_id, "and a second line from Maya")
    lms.post_message(seed.mentee2_id, seed.mentee1_id, "Alex on Totara: lunch?")
    maya = (await bridge.expect(r"--- #(\d+) ---\nMaya Mentor\n\nTotara hello from Maya", after=mark)).group(1)
    await bridge.expect(r"Maya Mentor\n\nand a second line from Maya", after=mark)
    await bridge.expect(r"Alex Mentee\n\nAlex on Totara: lunch\?", after=mark)
    shown = "\n".join(bridge.out[mark:])
    assert shown.index("Totara hello") < shown.index("a second line") < shown.index("Alex on Totara")

    # Maya writes again just as Sam's reply is stored, before answering marks her messages
    # read in Totara: read, it must still arrive.
    lms.after_call(
        "core_message_send_instant_messages",
        lambda params: bool(lms.post_message(seed.mentor_id, seed.mentee1_id, "Also: bring your notes")),
    )
    # A reply goes to the person whose message it answers, though Alex wrote last.
    await bridge.type(f"/reply {maya} Yes Maya, see you")
    maya_conv = lms.conversation_between(seed.mentor_id, seed.mentee1_id)
    await until(lambda: lms_texts(lms, maya_conv, seed.mentee1_id) == ["Yes Maya, see you"], what="the reply to Maya")
    alex_conv = lms.conversation_between(seed.mentee2_id, seed.mentee1_id)
    assert lms_texts(lms, alex_conv, seed.mentee1_id) == []
    # Answering marked Maya's messages read in Totara (Alex's stay unread).
    await until(lambda: unread_from(lms, seed.mentor_id, seed.mentee1_id) == 0, what="Maya's messages marked read")
    assert unread_from(lms, seed.mentee2_id, seed.mentee1_id) == 1
    # Plain text now goes to Maya, the current conversation; nothing arrives twice.
    await bridge.type("One more thing")
    await until(lambda: lms_texts(lms, maya_conv, seed.mentee1_id)[-1:] == ["One more thing"], what="current one")
    await bridge.expect(r"Maya Mentor\n\nAlso: bring your notes", after=mark)
    await asyncio.sleep(1.5)  # several polls: still once each
    texts = ("Totara hello from Maya", "and a second line from Maya", "Alex on Totara: lunch?", "bring your notes")
    for text in texts:
        assert bridge.count(text) == 1


async def test_the_new_sign_in_the_bridge_caused_is_not_relayed(
    bridge: BridgeProcess, lms: SandboxLMS, seed: DemoSeed
) -> None:
    # Linking signed in through login/token.php; Moodle sends its "New sign in" only at the
    # next cron (observed 20), after the bridge has taken its baseline.
    [own] = lms.run_cron()
    assert own in await unread_notification_ids(lms, seed.mentee1_id)
    lms.notify(seed.mentee1_id, subject="Quiz 2 opens", text="Monday 9:00", component="mod_quiz")
    await bridge.expect(r"Quiz 2 opens")
    assert "New sign in" not in bridge.text
    # Signing in somewhere else (the Moodle app, say) is news, and is relayed.
    async with LmsClient(lms.url) as app:
        await app.login("mentee1", "Passw0rd!")
    lms.run_cron()
    await bridge.expect(rf"New sign in to your {re.escape(lms.site_name)} account", timeout=30)
    assert len(re.findall(r"--- #\d+ ---\nNew sign in to your", bridge.text)) == 1  # one message


async def test_a_contact_request_shows_who_asks_with_accept_and_decline(
    bridge: BridgeProcess, lms: SandboxLMS, seed: DemoSeed
) -> None:
    # What Moodle sends (observed 21): "<site>: Contact request from <name>", no short text.
    await ws(lms, lms.issue_token(seed.mentee2_id), "core_message_create_contact_request",
             userid=seed.mentee2_id, requesteduserid=seed.mentee1_id)
    shown = await bridge.expect(
        rf"--- #(\d+) ---\nContact request from Alex Mentee\n\nAlex Mentee would like to contact you{SAME}"
        r"\[1\] Accept  \[2\] Decline"
    )
    assert f"{lms.site_name}:" not in shown.group(0)
    await bridge.type(f"/press {shown.group(1)} 2")
    await bridge.expect(r"Declined by Sam Mentee in the console")
    sam = lms.issue_token(seed.mentee1_id)
    assert await ws(lms, sam, "core_message_get_contact_requests", userid=seed.mentee1_id) == []
    assert await ws(lms, sam, "core_message_get_user_contacts", userid=seed.mentee1_id) == []


async def test_a_refusal_names_the_person_the_lms_leaves_unnamed(
    bridge: BridgeProcess, lms: SandboxLMS, seed: DemoSeed
) -> None:
    lms.post_message(seed.mentee2_id, seed.mentee1_id, "Hi, it's Alex")
    await bridge.expect(r"Hi, it's Alex")
    lms.set_preference(seed.mentee2_id, "message_blocknoncontacts", "1")  # contacts only (observed 27)
    mark = len(bridge.out)
    await bridge.type("Hi Alex, are you there?")
    await bridge.expect(r"Not delivered to Pluto: Alex Mentee accepts messages from contacts only", after=mark)
    assert "You can't message this user" not in "\n".join(bridge.out[mark:])
    conv = lms.conversation_between(seed.mentee1_id, seed.mentee2_id)
    assert lms_texts(lms, conv, seed.mentee1_id) == []


async def test_to_finds_a_course_mate_by_name_as_an_ordinary_user_can(
    bridge: BridgeProcess, lms: SandboxLMS, seed: DemoSeed
) -> None:
    # Moodle finds nobody by username for an ordinary user (observed 19): `to` must search
    # the way the LMS lets people find each other.
    priya = lms.create_user("pnair", firstname="Priya", lastname="Nair")
    lms.enrol(seed.course_id, priya)
    mark = len(bridge.out)
    await bridge.type("/to Priya")
    await bridge.expect(r"What you write now goes to Priya Nair", after=mark)
    await bridge.type("Hello Priya, welcome to MENT101")
    await until(
        lambda: lms_texts(lms, lms.conversation_between(seed.mentee1_id, priya), seed.mentee1_id)
        == ["Hello Priya, welcome to MENT101"],
        what="the message in Priya's new conversation",
    )
