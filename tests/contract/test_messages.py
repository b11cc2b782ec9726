"""Private messages both ways, on every platform: what the person reads of what was written
in the LMS, and what the LMS stores of what the person wrote."""

from __future__ import annotations

import re

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from tests.support import lms_texts, until

from .drivers.base import SAM, ChatDriver

pytestmark = pytest.mark.e2e


async def test_both_directions(driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed) -> None:
    await driver.link(SAM, "mentee1")
    sent = lms.post_message(seed.mentor_id, seed.mentee1_id, "Hello Sam, how is module 1 going?")
    shown = await driver.see(SAM, "how is module 1 going")
    assert shown.text.index("Maya Mentor") < shown.text.index("Hello Sam")  # who wrote it, on top

    await driver.write(SAM, "Going well, thanks Maya!")
    await until(
        lambda: lms_texts(lms, sent["conversationid"], seed.mentee1_id) == ["Going well, thanks Maya!"],
        what="Sam's answer in the LMS conversation, as Sam",
    )


async def test_replies_go_to_the_conversation_replied_to(driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed) -> None:
    await driver.link(SAM, "mentee1")
    mentor_conv = lms.post_message(seed.mentor_id, seed.mentee1_id, "Mentor question: ready for module 2?")
    mentor_msg = await driver.see(SAM, "Mentor question")
    alex_conv = lms.post_message(seed.mentee2_id, seed.mentee1_id, "Alex here: lunch?")
    alex_msg = await driver.see(SAM, "Alex here")

    def mentor() -> list[str]:
        return lms_texts(lms, mentor_conv["conversationid"], seed.mentee1_id)

    def alex() -> list[str]:
        return lms_texts(lms, alex_conv["conversationid"], seed.mentee1_id)

    # Alex wrote last, yet a reply to the mentor's message goes to the mentor.
    await driver.reply(SAM, mentor_msg, "Yes, ready.")
    await until(lambda: mentor() == ["Yes, ready."], what="the reply in the mentor's conversation")
    await driver.reply(SAM, alex_msg, "Lunch sounds good.")
    await until(lambda: alex() == ["Lunch sounds good."], what="the reply in Alex's conversation")
    # Plain text goes to the current conversation: the one last answered...
    await driver.write(SAM, "At noon?")
    await until(lambda: alex()[-1:] == ["At noon?"], what="plain text to the current conversation")
    # ...until the person picks another with the `to` command.
    answers = await driver.command(SAM, "to Maya")
    assert any("Maya Mentor" in a for a in answers), answers
    await driver.write(SAM, "One more thing for you, Maya.")
    await until(lambda: mentor()[-1:] == ["One more thing for you, Maya."], what="plain text after `to`")
    assert alex() == ["Lunch sounds good.", "At noon?"]
    assert mentor() == ["Yes, ready.", "One more thing for you, Maya."]


async def test_quick_lines_reach_the_lms_in_the_order_typed(
    driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await driver.link(SAM, "mentee1")
    sent = lms.post_message(seed.mentor_id, seed.mentee1_id, "Tell me about your week")
    await driver.see(SAM, "Tell me about your week")
    lines = [f"line {n} of my week" for n in range(1, 7)]
    for line in lines:
        await driver.write(SAM, line)  # typed faster than the bridge relays
    conversation = sent["conversationid"]
    await until(lambda: len(lms_texts(lms, conversation, seed.mentee1_id)) == len(lines), what="every line")
    assert lms_texts(lms, conversation, seed.mentee1_id) == lines


async def test_a_long_message_arrives_whole_and_in_order(driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed) -> None:
    await driver.link(SAM, "mentee1")
    # As long as the LMS takes (4096 bytes): longer than Telegram's 4096 characters once the
    # author is on top, and than a Slack section; each platform splits it its own way.
    words = [f"w{i:04d}" for i in range(1, 683)]
    body = " ".join(words)
    assert len(body.encode()) <= 4096
    mark = len(driver.arrived(SAM))
    lms.post_message(seed.mentor_id, seed.mentee1_id, body)
    await driver.see(SAM, words[-1])
    shown = "\n".join(driver.texts(SAM)[mark:])
    assert re.findall(r"w\d{4}", shown) == words  # every word, once, in order
    assert shown.index("Maya Mentor") < shown.index(words[0])


HOSTILE = '<b>hi</b> & <script>alert(1)</script> [x](https://evil.example) <a href="https://evil.example">y</a> &amp;'


async def test_markup_typed_in_chat_lands_in_the_lms_as_plain_text(
    driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await driver.link(SAM, "mentee1")
    sent = lms.post_message(seed.mentor_id, seed.mentee1_id, "Any questions?")
    await driver.see(SAM, "Any questions?")
    await driver.write(SAM, HOSTILE)
    conversation = sent["conversationid"]
    await until(lambda: lms_texts(lms, conversation, seed.mentee1_id), what="the text in the LMS")
    [stored] = [m for m in lms.messages_in(conversation) if m["useridfrom"] == seed.mentee1_id]
    # Exactly what was typed, stored as plain text (format 2): the LMS shows it literally.
    assert (stored["text"], stored["textformat"]) == (HOSTILE, 2)


async def test_an_unlinked_person_is_told_how_to_link(driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed) -> None:
    mark = len(driver.arrived(SAM))
    await driver.write(SAM, "hello?")
    answers = await driver.answers_after(SAM, mark)
    assert any("link" in a.lower() for a in answers), answers
    # Nothing reaches Pluto on an unlinked person's behalf.
    assert lms.conversation_between(seed.mentor_id, seed.mentee1_id) is None
