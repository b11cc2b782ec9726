"""Alerts and tasks in chat, handled from chat, on every platform: by button and by command."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from tests.lms_side import unread_notification_ids, ws

from .drivers.base import SAM, ChatDriver

pytestmark = pytest.mark.e2e


def posts(driver: ChatDriver) -> list[str]:
    """What arrived in Sam's chat but the answers to ``tasks`` (where the chat shows them)."""
    return [t for t in driver.texts(SAM) if not t.startswith("Open items")]


async def test_alert_marked_read_by_button_and_another_by_ack(
    driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await driver.link(SAM, "mentee1")
    essay = lms.notify(
        seed.mentee1_id,
        subject="Essay 1 is due tomorrow",
        text="Submit by 17:00",
        component="mod_assign",
        eventtype="assign_notification",
        contexturl=f"{lms.url}/mod/assign/view.php?id=5",
    )
    alert = await driver.see(SAM, "Essay 1 is due tomorrow")
    assert alert.buttons == ("Mark read",)  # "Open in Pluto" is a link: the bot never hears it
    assert essay in await unread_notification_ids(lms, seed.mentee1_id)

    # By button: the alert is changed in place to say what happened, with no button left.
    await driver.press(SAM, alert, "Mark read")
    await driver.retired(SAM, "Essay 1 is due tomorrow", "Marked read by Sam Mentee")
    assert essay not in await unread_notification_ids(lms, seed.mentee1_id)

    # By command: `tasks` gives the number, `ack` takes it.
    quiz = lms.notify(
        seed.mentee1_id, subject="Quiz 2 opens", text="Monday 9:00", component="mod_quiz", eventtype="quiz_open_soon"
    )
    await driver.see(SAM, "Quiz 2 opens")
    number = await driver.listed_number(SAM, "alert", "Quiz 2 opens")
    assert "Essay 1" not in " ".join(await driver.command(SAM, "tasks"))  # handled items are not listed
    answers = await driver.command(SAM, f"ack {number}")
    assert any("Done: Marked read by Sam Mentee" in a for a in answers), answers
    assert quiz not in await unread_notification_ids(lms, seed.mentee1_id)


async def test_contact_request_accepted_by_button(driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed) -> None:
    await driver.link(SAM, "mentee1")
    alex = lms.issue_token(seed.mentee2_id)
    await ws(lms, alex, "core_message_create_contact_request", userid=seed.mentee2_id, requesteduserid=seed.mentee1_id)
    request = await driver.see(SAM, "Contact request from Alex Mentee")
    assert request.buttons == ("Accept", "Decline")

    await driver.press(SAM, request, "Accept")
    await driver.retired(SAM, "Contact request from Alex Mentee", "Accepted by Sam Mentee")
    sam = lms.issue_token(seed.mentee1_id)
    contacts = await ws(lms, sam, "core_message_get_user_contacts", userid=seed.mentee1_id)
    assert [c["id"] for c in contacts] == [seed.mentee2_id]


async def test_quiet_hours_hold_alerts_and_release_one_digest(
    driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await driver.link(SAM, "mentee1")
    # Quiet now in Kolkata (UTC+05:30) and not now in UTC: a bridge reading the hours in the
    # wrong zone would deliver the alerts at once.
    zone = "Asia/Kolkata"
    local = dt.datetime.now(ZoneInfo(zone))
    start, end = ((local + dt.timedelta(hours=h)).strftime("%H:%M") for h in (-1, 1))
    answers = await driver.command(SAM, f"prefs quiet {start}-{end} {zone}")
    assert any(f"quiet hours: {start}-{end} ({zone})" in a for a in answers), answers

    lms.notify(seed.mentee1_id, subject="Forum: new post", text="...", component="mod_forum", eventtype="posts")
    lms.notify(
        seed.mentee1_id, subject="Badge awarded", text="...", component="moodle", eventtype="badgerecipientnotice"
    )
    # The bridge has taken both in (they are listed as open)...
    await driver.listed_number(SAM, "alert", "Badge awarded")
    await driver.listed_number(SAM, "alert", "Forum: new post")
    # ...and a message relayed after them arrives, while both alerts stay held.
    lms.post_message(seed.mentor_id, seed.mentee1_id, "Marker one")
    await driver.see(SAM, "Marker one")
    assert not [t for t in posts(driver) if "Forum: new post" in t or "Badge awarded" in t]

    answers = await driver.command(SAM, "prefs quiet off")
    if not any("quiet hours: off" in a for a in answers):
        # The released digest may reach the chat before the command's answer: both must show.
        await driver.see(SAM, "quiet hours: off")
    digest = await driver.see(SAM, "While your quiet hours were on, 2 item(s) arrived")
    assert "Forum: new post" in digest.text and "Badge awarded" in digest.text
    lms.post_message(seed.mentor_id, seed.mentee1_id, "Marker two")
    await driver.see(SAM, "Marker two")
    seen = posts(driver)
    assert sum("While your quiet hours were on" in t for t in seen) == 1
    assert sum("Forum: new post" in t for t in seen) == 1  # in the digest only, not also on its own


async def test_one_alert_dismissed_then_the_rest_acknowledged_all_at_once(
    driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await driver.link(SAM, "mentee1")
    subjects = ["Forum: new post", "Badge awarded", "Grade released"]
    ids = [
        lms.notify(seed.mentee1_id, subject=subject, text="...", component="mod_forum", eventtype="posts")
        for subject in subjects
    ]
    for subject in subjects:
        await driver.see(SAM, subject)

    # `dismiss N`: that one alert goes, the others stay unread.
    number = await driver.listed_number(SAM, "alert", "Forum: new post")
    answers = await driver.command(SAM, f"dismiss {number}")
    assert any("Done: Dismissed by Sam Mentee" in a for a in answers), answers
    await driver.retired(SAM, "Forum: new post", "Dismissed by Sam Mentee")
    unread = await unread_notification_ids(lms, seed.mentee1_id)
    assert ids[0] not in unread and set(ids[1:]) <= set(unread)

    # `ack all`: every alert still unread is marked read, each copy retired, once.
    answers = await driver.command(SAM, "ack all")
    assert " ".join(answers).count("Done: Marked read by Sam Mentee") == 2, answers
    for subject in subjects[1:]:
        await driver.retired(SAM, subject, "Marked read by Sam Mentee")
    assert not set(ids) & set(await unread_notification_ids(lms, seed.mentee1_id))
    answers = await driver.command(SAM, "ack all")
    assert any("No unread alerts" in a for a in answers), answers
