"""A Telegram group as a linked room, through the real bridge process (issue 16): only
administrators may link it; with privacy mode on (BotFather's default) ``room status``
says so and a reply to a relayed message still reaches Pluto with its context; an edit is
told once; a supergroup migration moves the link."""

from __future__ import annotations

from sandbox.lms import DemoSeed, SandboxLMS
from tests.platforms.telegram.conftest import GROUP, SAM
from tests.platforms.telegram.world import TelegramWorld
from tests.stores import rows
from tests.support import lms_texts, until

SUPERGROUP = -1002


async def test_a_group_linked_by_its_administrator_with_privacy_mode_on(
    polling_world: TelegramWorld, lms: SandboxLMS, seed: DemoSeed
) -> None:
    w = polling_world
    conv = seed.group_conversation_id
    await w.link_by_command(SAM, "mentee1")
    w.tg.user_sends_in_group(SAM, GROUP, "/room")
    await w.see(SAM, "Which Pluto group conversation")
    w.press(SAM, "Which Pluto group conversation", "Cohort A")
    await w.see(SAM, "only people who may manage this room can link it (a group administrator)")

    w.tg.group_admins[GROUP].add(SAM)
    w.tg.user_sends_in_group(SAM, GROUP, "/room")
    await w.see(SAM, "Which Pluto group conversation")  # the first one now shows the refusal
    w.press(SAM, "Which Pluto group conversation", "Cohort A")
    await w.see(SAM, "now linked to")
    w.tg.user_sends_in_group(SAM, GROUP, "/room status")
    await w.see(SAM, "Privacy mode is on")

    lms.post_to_conversation(seed.mentor_id, conv, "Welcome, everyone")
    (post,) = await w.see(GROUP, "Welcome, everyone")
    assert post.startswith("Maya Mentor\n")
    posted = w.message_id_of(GROUP, "Welcome, everyone")
    assert w.tg.user_sends_in_group(SAM, GROUP, "plain chatter") is None  # privacy mode: never seen
    w.tg.user_sends_in_group(SAM, GROUP, "Thanks!", reply_to=posted)
    await until(lambda: lms_texts(lms, conv, seed.mentee1_id) == ["> Maya Mentor: Welcome, everyone\nThanks!"])
    reply_id = max(i for chat, i in w.tg.messages if chat == GROUP)
    w.tg.user_edits_in_group(SAM, GROUP, reply_id, "Thanks a lot!")
    await w.see(SAM, "Edits and deletions in a linked room are not carried")
    assert lms_texts(lms, conv, seed.mentee1_id) == ["> Maya Mentor: Welcome, everyone\nThanks!"]

    w.tg.migrate_to_supergroup(GROUP, SUPERGROUP)
    lms.post_to_conversation(seed.mentor_id, conv, "After the move")
    await w.see(SUPERGROUP, "After the move")
    assert w.shown(GROUP, "After the move") == []
    assert all(r.ok for r in w.tg.calls("sendMessage") if r.params.get("chat_id") in (GROUP, SUPERGROUP))


async def test_killed_while_pluto_answers_a_room_message_it_is_neither_sent_again_nor_echoed(
    polling_world: TelegramWorld, lms: SandboxLMS, seed: DemoSeed
) -> None:
    w = polling_world
    conv = seed.group_conversation_id
    w.tg.privacy_mode = False  # the bot reads every message in the group
    w.tg.group_admins[GROUP].add(SAM)
    await w.link_by_command(SAM, "mentee1")
    await w.link_room(SAM, GROUP)
    # Pluto stores Sam's message at once and answers late: the bridge dies waiting, its
    # journal entry unfinished and nothing recorded about the message.
    lms.set_answer_delay(30.0, "core_message_send_messages_to_conversation")
    w.tg.user_sends_in_group(SAM, GROUP, "Written just before the crash")
    await until(lambda: lms_texts(lms, conv, seed.mentee1_id) == ["Written just before the crash"])
    assert w.bridge is not None
    await w.bridge.kill()
    lms.set_answer_delay(0)
    assert rows(f"sqlite:///{w.db}", "SELECT count(*) FROM processed_events WHERE status = 'received'") == [("1",)]

    second = await w.start()
    await second.expect_log("reached Pluto before the restart: not sent again", timeout=30)
    lms.post_to_conversation(seed.mentor_id, conv, "Maya, after the restart")
    await w.see(GROUP, "Maya, after the restart")
    assert lms_texts(lms, conv, seed.mentee1_id) == ["Written just before the crash"]  # once
    assert w.shown(GROUP, "Written just before the crash") == []  # never back into its room
