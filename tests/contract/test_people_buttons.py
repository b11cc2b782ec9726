"""The buttons of the people answers (issue 17), pressed where the platform shows a command's
answer as a message that can be pressed later: the person's card (Message, Add contact,
Block), a held line's question, ``msg`` choices and the conversations list. What a press
answers shows differently per platform (a Telegram toast, say): the tests check what Pluto
got; a person's events are handled in order, so a line written after a press follows it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from tests.support import lms_texts, until

from .conftest import ONE_PER_PLATFORM, running
from .drivers.base import SAM, Arrived, ChatDriver
from .test_people import course_mate, sam_wrote

pytestmark = pytest.mark.e2e


@pytest.fixture(params=ONE_PER_PLATFORM)
async def chat(
    request: pytest.FixtureRequest, lms: SandboxLMS, seed: DemoSeed, tmp_path: Path
) -> AsyncIterator[ChatDriver]:
    """The real bridge with one platform (Slack's command answers are shown to the person
    alone, Discord's are the interaction's follow-ups: both can be pressed)."""
    async with running(request.param, lms, tmp_path) as driver:
        yield driver


async def with_buttons(chat: ChatDriver, before: set[Arrived], needle: str, what: str) -> Arrived:
    """The first message with buttons showing ``needle`` that was not in ``before``, once
    there (by identity, not position: a platform may list answers apart from posts)."""
    return await chat.wait_for(
        lambda: next((a for a in chat.arrived(SAM) if a not in before and needle in a.text and a.buttons), None),
        what,
    )


async def answer(chat: ChatDriver, command: str, needle: str) -> Arrived:
    """Run ``command``; the message of its answer that shows ``needle``."""
    before = set(chat.arrived(SAM))
    await chat.command(SAM, command)
    return await with_buttons(chat, before, needle, f"{needle!r} with buttons")


async def test_the_card_of_one_person_found(chat: ChatDriver, lms: SandboxLMS, seed: DemoSeed) -> None:
    await chat.link(SAM, "mentee1")
    adams = course_mate(lms, seed, "mayaadams", "Maya", "Adams")
    card = await answer(chat, "find Adams", "Maya Adams")
    assert card.buttons == ("Message", "Add contact", "Block")
    await chat.press(SAM, card, "Message")
    await chat.write(SAM, "Hello from the card.")
    await sam_wrote(lms, seed, adams, ["Hello from the card."], "the first message to Maya Adams")
    await chat.press(SAM, card, "Add contact")
    await until(lambda: lms.state.requests_between(seed.mentee1_id, adams), what="Sam's contact request in Pluto")
    await chat.press(SAM, card, "Block")
    await until(lambda: lms.state.is_blocked(seed.mentee1_id, adams), what="Maya Adams blocked in Pluto")


async def test_several_found_each_opens_its_card(chat: ChatDriver, lms: SandboxLMS, seed: DemoSeed) -> None:
    await chat.link(SAM, "mentee1")
    lee = course_mate(lms, seed, "mayalee", "Maya", "Lee")
    lms.add_contact(seed.mentee1_id, seed.mentor_id)
    listing = await answer(chat, "find Maya", "Maya Lee")
    assert listing.text.index("Maya Mentor") < listing.text.index("Maya Lee")  # contacts first
    assert listing.buttons == ("1 Maya Mentor", "2 Maya Lee")
    before = set(chat.arrived(SAM))
    await chat.press(SAM, listing, "2 Maya Lee")
    card = await with_buttons(chat, before, "Maya Lee", "her card")
    assert card.buttons == ("Message", "Add contact", "Block") and "not a contact" in card.text
    await chat.press(SAM, card, "Message")
    await chat.write(SAM, "Hello Maya Lee.")
    await sam_wrote(lms, seed, lee, ["Hello Maya Lee."], "the first message to Maya Lee")


async def test_a_held_line_goes_only_where_the_person_confirms(
    chat: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await chat.link(SAM, "mentee1")
    sent = lms.post_message(seed.mentor_id, seed.mentee1_id, "Any news?")
    await chat.see(SAM, "Any news?")
    await chat.command(SAM, "to Zebulon")
    await chat.write(SAM, "First held line.")
    first = await chat.wait_for(
        lambda: next((a for a in chat.arrived(SAM) if "Not sent yet" in a.text and a.buttons), None), "the question"
    )
    assert first.buttons == ("Send to Maya Mentor", "Don't send")
    await chat.press(SAM, first, "Don't send")
    before = set(chat.arrived(SAM))
    await chat.write(SAM, "Second held line.")  # still held: the failed `to` is not answered yet
    second = await with_buttons(chat, before, "Not sent yet", "the second question")
    await chat.press(SAM, second, "Send to Maya Mentor")
    await until(
        lambda: lms_texts(lms, sent["conversationid"], seed.mentee1_id) == ["Second held line."],
        what="only the confirmed line in Maya's conversation",
    )
    await chat.write(SAM, "Third line, no question.")  # confirmed: plain text flows again
    await until(
        lambda: lms_texts(lms, sent["conversationid"], seed.mentee1_id)[-1:] == ["Third line, no question."],
        what="the next plain line sent as usual",
    )


async def test_msg_to_a_shared_first_name_waits_for_the_pick(chat: ChatDriver, lms: SandboxLMS, seed: DemoSeed) -> None:
    await chat.link(SAM, "mentee1")
    lee = course_mate(lms, seed, "mayalee", "Maya", "Lee")
    choices = await answer(chat, "msg Maya See you at noon", "Maya Lee")
    assert lms.conversation_between(seed.mentee1_id, lee) is None  # nothing sent before the pick
    [label] = [b for b in choices.buttons if b.endswith("Maya Lee")]
    await chat.press(SAM, choices, label)
    await sam_wrote(lms, seed, lee, ["See you at noon"], "the message, without the name, to Maya Lee")
    assert lms.conversation_between(seed.mentee1_id, seed.mentor_id) is None
    await chat.command(SAM, "msg Maya Mentor Thanks for today")  # a whole name picks one: sent at once
    await sam_wrote(lms, seed, seed.mentor_id, ["Thanks for today"], "the message to Maya Mentor")
    await chat.write(SAM, "And plain text still goes to Maya Lee.")  # msg sent one message only
    await sam_wrote(lms, seed, lee, ["See you at noon", "And plain text still goes to Maya Lee."], "the plain line")


async def test_conversations_lists_groups_and_unread_and_makes_one_current(
    chat: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await chat.link(SAM, "mentee1")
    lms.post_message(seed.mentor_id, seed.mentee1_id, "One")
    lms.post_message(seed.mentor_id, seed.mentee1_id, "Two")
    await chat.see(SAM, "Two")
    listing = await answer(chat, "conversations", "Cohort A")
    assert "Maya Mentor" in listing.text and "2 unread" in listing.text
    # Pluto answers null, not 0, for a read conversation (observed 15): no count is shown.
    assert re.search(r"Cohort A \(group\)(?!: \d+ unread)", listing.text) and "None" not in listing.text
    [label] = [b for b in listing.buttons if b.endswith("Cohort A")]
    await chat.press(SAM, listing, label)
    await chat.write(SAM, "Hello cohort!")
    await until(
        lambda: lms_texts(lms, seed.group_conversation_id, seed.mentee1_id) == ["Hello cohort!"],
        what="the line in the group conversation Pluto listed (the bridge never relayed it)",
    )
