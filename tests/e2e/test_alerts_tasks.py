"""End to end: alerts, tasks and contact requests in chat, handled from chat (real process,
console adapter, sandbox LMS in modern and Totara mode, Telegram for the two-platform case).
An alert read by button and by ack, and a contact request accepted, run on every platform
in tests/contract/test_items.py."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.telegram import SandboxTelegram
from tests.e2e.harness import BridgeProcess, bridge_config, link_on_telegram, until_answer
from tests.lms_side import unread_notification_ids, ws

pytestmark = pytest.mark.e2e



async def start_bridge(site: SandboxLMS, tmp: Path, **sections: dict[str, Any]) -> BridgeProcess:
    config, _ = bridge_config(tmp, site.url, **sections)
    process = await BridgeProcess(config).start()
    await process.expect(r"send /link")
    await process.link("mentee1")
    return process


def block(process: BridgeProcess, title: str) -> str:
    """The number of the console message whose text contains ``title``."""
    match = re.search(r"--- #(\d+) ---\n[^\n]*" + re.escape(title), process.text)
    assert match, f"no message {title!r} in:\n{process.text}"
    return match.group(1)


@pytest.fixture
async def modern(lms: SandboxLMS, seed: DemoSeed, tmp_path: Path) -> AsyncIterator[BridgeProcess]:
    process = await start_bridge(lms, tmp_path)
    try:
        yield process
    finally:
        await process.stop()



async def test_a_forum_post_notified_long_after_it_was_written_still_arrives(
    modern: BridgeProcess, lms: SandboxLMS, seed: DemoSeed
) -> None:
    # Moodle mails a forum post only after its editing window and the next cron (observed 16):
    # the notification appears later than anything the bridge has seen since.
    lms.forum_post(seed.course_id, seed.mentor_id, "Kickoff", "<p>Please introduce yourselves.</p>")
    notice = lms.notify(seed.mentee1_id, subject="Quiz 2 opens", text="Monday 9:00", component="mod_quiz")
    await modern.expect(r"Quiz 2 opens")
    # Still inside the editing window: nothing mailed; only the bridge's own sign-in is sent
    # (observed 20), which the bridge does not relay.
    assert len(lms.run_cron()) == 1
    lms.clock.freeze(lms.clock.now() + 1801)
    mailed = set(lms.run_cron())  # one per enrolled person but the author
    await modern.expect(r"Maya Mentor posted in MENT101")
    assert len(mailed & await unread_notification_ids(lms, seed.mentee1_id)) == 1 and notice not in mailed


async def test_prefs_types_lists_plutos_types_and_switches_one_by_number(
    modern: BridgeProcess, lms: SandboxLMS, seed: DemoSeed
) -> None:
    lms.set_preference(seed.mentee1_id, "message_provider_mod_assign_assign_notification_enabled", "email")
    mark = len(modern.out)
    await modern.type("/prefs types")
    line = await modern.expect(r"(\d+)\. Forum: Subscribed forum posts: chat on \(Pluto outputs: ([^)]*)\)", after=mark)
    assert line.group(2) == "Web, Email, Mobile"  # the outputs of moodle-4.5-observed.md item 28, all on
    await modern.expect(r"Assignment: Assignment notifications: chat on \(Pluto outputs: Email\)", after=mark)
    mark = len(modern.out)
    await modern.type(f"/prefs off {line.group(1)}")
    await modern.expect(r"switched off: mod_forum_posts", after=mark)
    lms.notify(seed.mentee1_id, subject="Forum noise", text="...", component="mod_forum", eventtype="posts")
    lms.notify(seed.mentee1_id, subject="Badge earned", text="...", component="moodle",
               eventtype="badgerecipientnotice")
    await modern.expect(r"Badge earned", after=mark)
    assert "Forum noise" not in "\n".join(modern.out[mark:])
    mark = len(modern.out)
    await modern.type("/prefs types")
    await modern.expect(r"Forum: Subscribed forum posts: chat off", after=mark)


async def test_plutos_disable_all_stops_notifications_but_not_messages(
    modern: BridgeProcess, lms: SandboxLMS, seed: DemoSeed
) -> None:
    sam = lms.issue_token(seed.mentee1_id)
    await ws(lms, sam, "core_user_update_user_preferences", userid=seed.mentee1_id, emailstop=1)
    mark = len(modern.out)
    await modern.type("/prefs types")
    await modern.expect(r"All notifications are switched off in your Pluto preferences", after=mark)
    lms.notify(seed.mentee1_id, subject="Quiet please", text="...", component="mod_quiz", eventtype="submission")
    lms.post_message(seed.mentor_id, seed.mentee1_id, "A message still comes")
    await modern.expect(r"A message still comes", after=mark)
    # Taken in (listed by tasks, as in Pluto) and not delivered as a post of its own.
    async def tasks() -> str:
        at = len(modern.out)
        await modern.type("/tasks")
        await modern.expect(r"Open items|Nothing open", after=at)
        return "\n".join(modern.out[at:])

    await until_answer(tasks, lambda listing: "Quiet please" in listing, "the alert taken in")
    assert "Quiet please" not in [line.strip() for line in modern.out[mark:]]


async def test_notification_types_switched_off(modern: BridgeProcess, lms: SandboxLMS, seed: DemoSeed) -> None:
    mark = len(modern.out)
    await modern.type("/prefs off mod_forum/posts")
    await modern.expect(r"switched off: mod_forum_posts", after=mark)
    lms.notify(seed.mentee1_id, subject="Forum noise", text="...", component="mod_forum", eventtype="posts")
    lms.notify(
        seed.mentee1_id,
        subject="Grade released",
        text="...",
        component="mod_assign",
        eventtype="assign_notification",
    )
    await modern.expect(r"Grade released")
    assert "Forum noise" not in modern.text


# --- Totara-mode site: tasks with workflows ------------------------------------------------


@pytest.fixture
async def totara(tmp_path: Path, bridge_store_url: str) -> AsyncIterator[tuple[SandboxLMS, DemoSeed, BridgeProcess]]:
    lms = SandboxLMS(mode="totara")
    seed = lms.seed_demo()
    await lms.start()
    process = await start_bridge(lms, tmp_path, lms={"poll_interval": 1.0}, store={"url": bridge_store_url})
    try:
        yield lms, seed, process
    finally:
        await process.stop()
        await lms.stop()


@pytest.mark.postgres
async def test_totara_tasks_accept_by_button_reject_by_command(
    totara: tuple[SandboxLMS, DemoSeed, BridgeProcess],
) -> None:
    lms, seed, bridge = totara
    lms.task(
        seed.mentee1_id,
        "Approve booking: Alex, Seminar 3",
        "Alex asks for a seat",
        acceptbutton="Approve",
        rejectbutton="Decline",
        data={"signupid": 7},
    )
    await bridge.expect(r"Approve booking: Alex.*\[1\] Approve  \[2\] Decline  \[3\] Dismiss")
    await bridge.type(f"/press {block(bridge, 'Approve booking: Alex')} 1 Budget is fine")
    await bridge.expect(
        r"\(updated\) ---\nApprove booking: Alex.*Accepted by Sam Mentee in the console: .Budget is fine"
    )
    action = lms.task_actions[-1]
    assert (action.action, action.reasonfordecision, action.workflow) == (
        "accept",
        "Budget is fine",
        "facetoface",
    )

    lms.task(seed.mentee1_id, "Approve booking: Kim, Seminar 4", "Kim asks for a seat")
    await bridge.expect(r"Approve booking: Kim")
    mark = len(bridge.out)
    await bridge.type("/tasks")
    short = (await bridge.expect(r"#(\d+) task: Approve booking: Kim", after=mark)).group(1)
    await bridge.type(f"/decline {short} Seminar is full")
    await bridge.expect(r"Done: Rejected by Sam Mentee in the console: .Seminar is full", after=mark)
    assert (lms.task_actions[-1].action, lms.task_actions[-1].reasonfordecision) == (
        "reject",
        "Seminar is full",
    )


async def test_totara_refusal_keeps_the_buttons(totara: tuple[SandboxLMS, DemoSeed, BridgeProcess]) -> None:
    """A task handled in Pluto, on every platform: tests/contract/test_tasks.py."""
    lms, seed, bridge = totara
    lms.task(seed.mentee1_id, "Extension request: Kim", "Kim asks for two more weeks", outcome=False)
    await bridge.expect(r"Extension request: Kim")
    mark = len(bridge.out)
    await bridge.type(f"/press {block(bridge, 'Extension request: Kim')} 1")
    await bridge.expect(r"Pluto refused to accept this task", after=mark)
    assert "(updated)" not in "\n".join(bridge.out[mark:])  # nothing changed: buttons stay


async def test_action_on_a_task_already_handled_in_the_lms(tmp_path: Path) -> None:
    lms = SandboxLMS(mode="totara")
    seed = lms.seed_demo()
    await lms.start()
    bridge = await start_bridge(lms, tmp_path, lms={"poll_interval": 3.0})
    try:
        task = lms.task(seed.mentee1_id, "Approve booking: Max", "Max asks for a seat")
        await bridge.expect(r"Approve booking: Max", timeout=10)
        await ws(lms, lms.issue_token(seed.mentee1_id), "local_pluto_task_action", messageid=task, action="dismiss")
        mark = len(bridge.out)
        await bridge.type(f"/press {block(bridge, 'Approve booking: Max')} 1")  # before the next poll notices
        await bridge.expect(r"already handled in Pluto", after=mark)
        await bridge.expect(r"\(updated\) ---\nApprove booking: Max.*Already handled in Pluto", after=mark)
        assert [a.messageid for a in lms.task_actions] == []  # no workflow ran for the stale press
    finally:
        await bridge.stop()
        await lms.stop()


# --- one task, two platforms ----------------------------------------------------------------


async def test_task_on_two_platforms_handled_on_one_retires_the_other(tmp_path: Path) -> None:
    lms = SandboxLMS(mode="totara")
    seed = lms.seed_demo()
    await lms.start()
    tg = SandboxTelegram()
    await tg.start()
    tg.add_user(111, "Sam", started=True)
    bridge = await start_bridge(
        lms,
        tmp_path,
        telegram={"enabled": True, "token": tg.token, "base_url": tg.api_url, "base_file_url": tg.file_url},
    )
    try:
        await link_on_telegram(tg, 111, "mentee1")
        lms.task(seed.mentee1_id, "Approve booking: Ana", "Ana asks for a seat")
        await bridge.expect(r"Approve booking: Ana")

        def telegram_copy() -> dict[str, Any] | None:
            return next((m for m in tg.sent_to(111) if "Approve booking: Ana" in m.get("text", "")), None)

        await tg.wait_until(lambda: telegram_copy() is not None, within=10)
        assert (telegram_copy() or {}).get("reply_markup")  # buttons on Telegram too
        await bridge.type(f"/press {block(bridge, 'Approve booking: Ana')} 1")
        await tg.wait_until(lambda: "Accepted by Sam Mentee" in (telegram_copy() or {}).get("text", ""), within=10)
        copy = telegram_copy() or {}
        assert not (copy.get("reply_markup") or {}).get("inline_keyboard")  # retired on the other platform
    finally:
        await bridge.stop()
        await tg.stop()
        await lms.stop()


# --- the chosen platform becomes unreachable ------------------------------------------------


async def test_when_the_only_chosen_platform_is_unreachable_items_fall_back_and_the_person_is_told(
    lms: SandboxLMS, seed: DemoSeed, tmp_path: Path
) -> None:
    tg = SandboxTelegram()
    await tg.start()
    tg.add_user(111, "Sam", started=True)
    telegram = {"enabled": True, "token": tg.token, "base_url": tg.api_url, "base_file_url": tg.file_url}
    bridge = await start_bridge(lms, tmp_path, telegram=telegram)
    try:
        await link_on_telegram(tg, 111, "mentee1")
        mark = len(bridge.out)
        await bridge.type("/prefs messages telegram")
        await bridge.expect(r"messages: telegram", after=mark)
        lms.post_message(seed.mentor_id, seed.mentee1_id, "First, to Telegram")
        await tg.wait_until(lambda: any("First, to Telegram" in m.get("text", "") for m in tg.sent_to(111)), within=15)
        tg.block_bot(111)  # Telegram can no longer reach Sam: that link becomes inactive
        lms.post_message(seed.mentor_id, seed.mentee1_id, "Second, refused by Telegram")
        await bridge.expect(r"Second, refused by Telegram", after=mark, timeout=20)  # what was on its way
        lms.post_message(seed.mentor_id, seed.mentee1_id, "Third, here instead")
        await bridge.expect(r"Third, here instead", after=mark, timeout=20)
        lms.post_message(seed.mentor_id, seed.mentee1_id, "Fourth, here too")
        await bridge.expect(r"Fourth, here too", after=mark, timeout=20)
        told = [line for line in bridge.out[mark:] if "should go to Telegram, but that link is not active" in line]
        assert len(told) == 1, bridge.out[mark:]  # told once
    finally:
        await bridge.stop()
        await tg.stop()
