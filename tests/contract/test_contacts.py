"""Contacts, blocks, mutes and privacy from chat, on every platform, as the person with
their own token: Pluto's rules decide and its reasons are shown (issue 17).

The console chats with one person only: there, what Alex does happens in Pluto."""

from __future__ import annotations

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from tests.lms_side import ws
from tests.support import lms_texts

from .conftest import ONE_PER_PLATFORM
from .drivers.base import ALEX, SAM, ChatDriver

DRIVER_NAMES = ONE_PER_PLATFORM  # what a command does: once per platform

pytestmark = pytest.mark.e2e

REASON = "accepts messages from contacts only, or has blocked you"  # bridge.lms.refusals, Pluto's reason retold


async def contact_ids(lms: SandboxLMS, userid: int) -> list[int]:
    return [c["id"] for c in await ws(lms, lms.issue_token(userid), "core_message_get_user_contacts", userid=userid)]


async def alex_writes_to_sam(driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed, text: str) -> str:
    """Alex writes to Sam from his chat (the bridge answers with Pluto's reason when Pluto
    refuses); on the console, in Pluto. Returns what Alex was told ("" when sent)."""
    if ALEX not in driver.people:
        sent = lms.post_message(seed.mentee2_id, seed.mentee1_id, text)
        return str(sent.get("errormessage") or "")
    await driver.command(ALEX, "to Sam Mentee")
    mark = len(driver.arrived(ALEX))
    await driver.write(ALEX, text)
    answer = await driver.wait_for(
        lambda: (
            next((a.text for a in driver.arrived(ALEX)[mark:] if "Not " in a.text), None)
            or (any(text in t for t in _sam_side(lms, seed)) and "sent")
        ),
        f"Alex's {text!r} sent or refused",
    )
    return "" if answer == "sent" else str(answer)


async def answered(driver: ChatDriver, person: str, command: str, needle: str) -> None:
    """``person`` runs ``command`` and one of the answers shows ``needle``."""
    answers = await driver.command(person, command)
    assert any(needle in a for a in answers), answers


async def link_both(driver: ChatDriver) -> None:
    """Sam links, and Alex too where he chats (he takes in what arrives after his link)."""
    await driver.link(SAM, "mentee1")
    if ALEX in driver.people:
        await driver.link(ALEX, "mentee2")


def _sam_side(lms: SandboxLMS, seed: DemoSeed) -> list[str]:
    conv = lms.state.individual_between(seed.mentee1_id, seed.mentee2_id)
    return lms_texts(lms, conv.id, seed.mentee2_id) if conv is not None else []


async def test_contact_add_answered_by_the_other_person_then_both_see_each_other(
    driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await link_both(driver)
    await answered(driver, SAM, "contact add Alex", "Contact request sent to Alex Mentee")
    listing = " ".join(await driver.command(SAM, "contacts"))
    assert "Your requests waiting for an answer" in listing and "Alex Mentee" in listing, listing

    if ALEX in driver.people:
        request = await driver.see(ALEX, "Contact request from Sam Mentee")
        await driver.press(ALEX, request, "Accept")
        await driver.retired(ALEX, "Contact request from Sam Mentee", "Accepted by Alex Mentee")
        theirs = " ".join(await driver.command(ALEX, "contacts"))
        assert "Your Pluto contacts" in theirs and "Sam Mentee" in theirs, theirs
    else:
        alex = lms.issue_token(seed.mentee2_id)
        await ws(
            lms, alex, "core_message_confirm_contact_request", userid=seed.mentee1_id, requesteduserid=seed.mentee2_id
        )
    assert await contact_ids(lms, seed.mentee1_id) == [seed.mentee2_id]
    mine = " ".join(await driver.command(SAM, "contacts"))
    assert "Your Pluto contacts" in mine and "Alex Mentee" in mine and "waiting" not in mine, mine

    await answered(driver, SAM, "contact remove Alex", "Alex Mentee is no longer your Pluto contact")
    assert await contact_ids(lms, seed.mentee1_id) == []


async def test_block_then_the_blocked_persons_send_is_refused_with_plutos_reason(
    driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await link_both(driver)
    await answered(driver, SAM, "block Alex Mentee", "Blocked Alex Mentee")
    told = await alex_writes_to_sam(driver, lms, seed, "Are you there?")
    assert REASON in told or told.startswith("You can't message this user"), told
    assert not [t for t in _sam_side(lms, seed) if "Are you there?" in t]

    await answered(driver, SAM, "unblock Alex", "Unblocked Alex Mentee")
    assert await alex_writes_to_sam(driver, lms, seed, "Now?") == ""
    await driver.see(SAM, "Now?")


async def test_mute_stops_chat_delivery_of_the_conversation_until_unmuted(
    driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await driver.link(SAM, "mentee1")
    lms.post_message(seed.mentor_id, seed.mentee1_id, "First from Maya")
    await driver.see(SAM, "First from Maya")  # Maya's conversation is now the current one
    answers = await driver.command(SAM, "mute")
    assert any("Muted Maya Mentor" in a and "no longer delivered to your chat" in a for a in answers), answers

    lms.post_message(seed.mentor_id, seed.mentee1_id, "While muted")
    lms.post_message(seed.mentee2_id, seed.mentee1_id, "Marker from Alex")
    await driver.see(SAM, "Marker from Alex")  # taken in after Maya's: Maya's was not delivered
    assert not [t for t in driver.texts(SAM) if "While muted" in t]

    await answered(driver, SAM, "unmute Maya", "Unmuted Maya Mentor")
    lms.post_message(seed.mentor_id, seed.mentee1_id, "After unmute")
    await driver.see(SAM, "After unmute")


async def sam_muted_maya(driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed) -> None:
    """Sam links, gets a message from Maya (her conversation is his current one), mutes it."""
    await driver.link(SAM, "mentee1")
    lms.post_message(seed.mentor_id, seed.mentee1_id, "First from Maya")
    await driver.see(SAM, "First from Maya")
    await answered(driver, SAM, "mute", "Muted Maya Mentor")


async def test_what_was_written_while_muted_is_not_delivered_after_the_unmute(
    driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await sam_muted_maya(driver, lms, seed)
    # Written in Pluto's current second, which stays current: Moodle holds it back from
    # every read with timefrom (moodle-4.5-observed.md item 5) until after the unmute.
    lms.clock.freeze()
    try:
        lms.post_message(seed.mentor_id, seed.mentee1_id, "While muted")
        await answered(driver, SAM, "unmute Maya", "Unmuted Maya Mentor")
    finally:
        lms.clock.unfreeze()
    lms.post_message(seed.mentor_id, seed.mentee1_id, "After unmute")
    await driver.see(SAM, "After unmute")
    assert not [t for t in driver.texts(SAM) if "While muted" in t]


async def test_an_unmute_pluto_made_is_reported_though_pluto_went_down_right_after(
    driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await sam_muted_maya(driver, lms, seed)

    def down(_: object) -> bool:
        lms.set_down(True)  # the unmute is done; the read of what was written while muted fails
        return True

    lms.after_call("core_message_unmute_conversations", down)
    try:
        await answered(driver, SAM, "unmute Maya", "Unmuted Maya Mentor")
    finally:
        lms.set_down(False)
    lms.post_message(seed.mentor_id, seed.mentee1_id, "After unmute")
    await driver.see(SAM, "After unmute")


async def test_privacy_contacts_then_a_non_contact_is_refused(
    driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await link_both(driver)
    shown = " ".join(await driver.command(SAM, "privacy"))
    assert "your contacts and people in your courses can message you" in shown, shown
    await answered(driver, SAM, "privacy contacts", "your contacts only can message you now")
    prefs = await ws(lms, lms.issue_token(seed.mentee1_id), "core_message_get_user_message_preferences")
    assert prefs["blocknoncontacts"] == 1  # moodle-4.5-observed.md item 27

    told = await alex_writes_to_sam(driver, lms, seed, "Hi Sam, a question")
    assert REASON in told or told.startswith("You can't message this user"), told
    # "Anyone on the site" is not offered where the site does not allow it.
    await answered(driver, SAM, "privacy site", "does not let people open their messages")
    prefs = await ws(lms, lms.issue_token(seed.mentee1_id), "core_message_get_user_message_preferences")
    assert prefs["blocknoncontacts"] == 1


async def test_prefs_for_a_platform_not_linked_is_refused_with_how_to_link(
    driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await driver.link(SAM, "mentee1")
    elsewhere = "telegram" if driver.name == "discord" else "discord"
    answers = " ".join(await driver.command(SAM, f"prefs messages {elsewhere}"))
    assert f"Not changed: you have no active {elsewhere.capitalize()} link" in answers, answers
    assert "send" in answers and "link" in answers.split("Link it first")[-1], answers
    shown = " ".join(await driver.command(SAM, "prefs"))
    assert "messages: every linked chat" in shown, shown  # nothing was routed away
    lms.post_message(seed.mentor_id, seed.mentee1_id, "Still here")
    await driver.see(SAM, "Still here")


def platform_of(driver: ChatDriver) -> str:
    return driver.name.split("-")[0]


async def test_a_chat_identity_shared_with_contacts_is_shown_to_contacts_only(
    driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    if ALEX not in driver.people:
        pytest.skip("the console chats with one person and has no identity to share")
    where = f"on {platform_of(driver).capitalize()}"
    await driver.link(SAM, "mentee1")
    await driver.link(ALEX, "mentee2")
    answers = " ".join(await driver.command(ALEX, f"prefs share {platform_of(driver)} contacts"))
    assert f"shared with your Pluto contacts: {platform_of(driver).capitalize()}" in answers, answers
    # Not contacts yet: Sam sees nothing of Alex.
    assert "Alex" not in " ".join(await driver.command(SAM, "contacts"))

    lms.add_contact(seed.mentee1_id, seed.mentee2_id)
    mine = " ".join(await driver.command(SAM, "contacts"))
    assert f"Alex Mentee ({where})" in mine, mine
    theirs = " ".join(await driver.command(ALEX, "contacts"))
    assert "Sam Mentee" in theirs and where not in theirs, theirs  # Sam shares nothing

    await driver.command(ALEX, f"prefs share {platform_of(driver)} nobody")
    mine = " ".join(await driver.command(SAM, "contacts"))
    assert "Alex Mentee" in mine and where not in mine, mine


async def test_a_request_answered_from_contacts_retires_its_chat_copy(
    driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await driver.link(SAM, "mentee1")
    alex = lms.issue_token(seed.mentee2_id)
    await ws(lms, alex, "core_message_create_contact_request", userid=seed.mentee2_id, requesteduserid=seed.mentee1_id)
    await driver.see(SAM, "Contact request from Alex Mentee")
    listing = " ".join(await driver.command(SAM, "contacts"))
    assert "Waiting for your answer" in listing and "Alex Mentee" in listing, listing
    # The answer's Accept button where the platform shows buttons on it, else the command.
    shown = next((a for a in driver.arrived(SAM) if "Accept Alex" in a.buttons), None)
    if shown is not None:
        await driver.press(SAM, shown, "Accept Alex")
    else:
        answers = await driver.command(SAM, "contact accept Alex")
        assert any("You and Alex Mentee are now Pluto contacts" in a for a in answers), answers
    await driver.retired(SAM, "Contact request from Alex Mentee", "Accepted by Sam Mentee")
    assert await contact_ids(lms, seed.mentee1_id) == [seed.mentee2_id]
    listing = " ".join(await driver.command(SAM, "contacts"))
    assert "Your Pluto contacts" in listing and "Alex Mentee" in listing and "Waiting" not in listing, listing
