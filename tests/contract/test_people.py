"""Reaching people from chat on every platform (issue 17): ``find``, ``to`` by name or number,
and a ``to`` that chose nobody, which holds the next plain line instead of guessing."""

from __future__ import annotations

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from tests.support import lms_texts, until

from .conftest import ONE_PER_PLATFORM
from .drivers.base import SAM, ChatDriver

DRIVER_NAMES = ONE_PER_PLATFORM  # what a command does: once per platform

pytestmark = pytest.mark.e2e


def course_mate(lms: SandboxLMS, seed: DemoSeed, username: str, first: str, last: str) -> int:
    """A person in Sam's course whom Sam has never written to (nor the bridge relayed)."""
    userid = lms.create_user(username, firstname=first, lastname=last)
    lms.enrol(seed.course_id, userid)
    return userid


async def sam_wrote(lms: SandboxLMS, seed: DemoSeed, other: int, texts: list[str], what: str) -> None:
    """Wait until Sam's messages in his private Pluto conversation with ``other`` are ``texts``."""
    await until(
        lambda: lms_texts(lms, lms.conversation_between(seed.mentee1_id, other), seed.mentee1_id) == texts, what=what
    )


def number_of(listing: str, name: str, names: list[str]) -> int:
    """The number a numbered answer gives ``name``: its place among ``names`` as shown."""
    shown = sorted(names, key=listing.index)
    return shown.index(name) + 1


async def test_find_then_write_to_someone_never_written_to(driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed) -> None:
    await driver.link(SAM, "mentee1")
    adams = course_mate(lms, seed, "mayaadams", "Maya", "Adams")
    found = "\n".join(await driver.command(SAM, "find Mentee"))
    assert "Alex Mentee" in found and "Sam Mentee" not in found  # Pluto lists the caller too: left out
    found = "\n".join(await driver.command(SAM, "find Adams"))
    assert "Maya Adams" in found
    chosen = "\n".join(await driver.command(SAM, "to 1"))  # the number from the list just shown
    assert "Maya Adams" in chosen
    assert lms.conversation_between(seed.mentee1_id, adams) is None
    await driver.write(SAM, "Hello Maya, Sam here from MENT101.")
    # The first send creates the conversation, and Maya has it unread in Pluto.
    await sam_wrote(
        lms,
        seed,
        adams,
        ["Hello Maya, Sam here from MENT101."],
        "Sam's first message to Maya Adams in a new Pluto conversation",
    )


async def test_to_with_two_people_of_the_same_first_name(driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed) -> None:
    await driver.link(SAM, "mentee1")
    lee = course_mate(lms, seed, "mayalee", "Maya", "Lee")
    listing = "\n".join(await driver.command(SAM, "to Maya"))
    assert "Maya Lee" in listing and "Maya Mentor" in listing, listing
    number = number_of(listing, "Maya Lee", ["Maya Lee", "Maya Mentor"])
    chosen = "\n".join(await driver.command(SAM, f"to {number}"))
    assert "Maya Lee" in chosen and "Maya Mentor" not in chosen
    await driver.write(SAM, "Hi Maya L, quick question.")
    await sam_wrote(lms, seed, lee, ["Hi Maya L, quick question."], "the line in Sam's conversation with Maya Lee")
    assert lms.conversation_between(seed.mentee1_id, seed.mentor_id) is None  # the other Maya got nothing


async def test_a_plain_line_after_a_failed_to_is_held_and_asked_about(
    driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await driver.link(SAM, "mentee1")
    sent = lms.post_message(seed.mentor_id, seed.mentee1_id, "Tell me when you are free.")
    await driver.see(SAM, "Tell me when you are free.")  # Maya's conversation is now current
    answer = "\n".join(await driver.command(SAM, "to Zebulon"))
    assert "No conversation or person" in answer and "Maya Mentor" in answer  # where plain text would go
    mark = len(driver.arrived(SAM))
    await driver.write(SAM, "Meant for Zebulon, not Maya.")
    asked = "\n".join(await driver.answers_after(SAM, mark))
    assert "Not sent yet" in asked and "Maya Mentor" in asked
    assert lms_texts(lms, sent["conversationid"], seed.mentee1_id) == []  # nothing went anywhere


async def test_msg_to_someone_who_takes_contacts_only_names_them(
    driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await driver.link(SAM, "mentee1")
    adams = course_mate(lms, seed, "mayaadams", "Maya", "Adams")
    lms.set_preference(adams, "message_blocknoncontacts", "1")  # contacts only (observed 27)
    answer = "\n".join(await driver.command(SAM, "msg Maya Adams Hello there"))
    # Pluto's refusal names nobody (observed 25): the bridge says whom it concerns.
    assert "Maya Adams accepts messages from contacts only" in answer, answer
    assert lms.conversation_between(seed.mentee1_id, adams) is None or not lms_texts(
        lms, lms.conversation_between(seed.mentee1_id, adams), seed.mentee1_id
    )
