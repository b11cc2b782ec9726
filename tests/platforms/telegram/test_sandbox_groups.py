"""The sandbox Bot API's groups as the real PTB ``Bot`` sees them (issue 16): privacy mode,
administrators, the bot removed and added back, supergroup migration, joins and edits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import Bot, ChatMemberAdministrator, ChatMemberMember, ChatMemberOwner
from telegram.error import BadRequest, ChatMigrated, Forbidden

from sandbox.telegram import SandboxTelegram, SandboxUser

GROUP = -4001
People = tuple[SandboxUser, SandboxUser]


@pytest.fixture
async def bot(sandbox: SandboxTelegram) -> AsyncIterator[Bot]:
    b = Bot(sandbox.token, base_url=sandbox.api_url, base_file_url=sandbox.file_url)
    async with b:
        yield b


@pytest.fixture
def people(sandbox: SandboxTelegram) -> tuple[SandboxUser, SandboxUser]:
    ada = sandbox.add_user(11, "Ada")
    bob = sandbox.add_user(12, "Bob")
    sandbox.add_group(GROUP, "Cohort A", admins=[ada.id], members=[bob.id])
    return ada, bob


async def test_privacy_mode_lets_through_commands_and_replies_to_the_bot_only(
    sandbox: SandboxTelegram, bot: Bot, people: People
) -> None:
    ada, bob = people
    assert (await bot.get_me()).can_read_all_group_messages is False
    assert sandbox.user_sends_in_group(bob, GROUP, "plain chatter") is None
    assert sandbox.user_sends_in_group(bob, GROUP, "/room") is not None
    posted = await bot.send_message(GROUP, "From Pluto")
    assert sandbox.user_sends_in_group(bob, GROUP, "an answer", reply_to=posted.message_id) is not None
    updates = await bot.get_updates()
    assert [u.message.text for u in updates if u.message] == ["/room", "an answer"]
    answer = updates[-1].message
    assert answer is not None and answer.reply_to_message is not None
    assert answer.reply_to_message.message_id == posted.message_id

    sandbox.privacy_mode = False
    assert (await bot.get_me()).can_read_all_group_messages is True
    assert sandbox.user_sends_in_group(ada, GROUP, "now everything") is not None


async def test_administrators_and_members(bot: Bot, people: People) -> None:
    ada, bob = people
    admins = await bot.get_chat_administrators(GROUP)
    assert [type(a) for a in admins] == [ChatMemberOwner] and admins[0].user.id == ada.id
    assert isinstance(await bot.get_chat_member(GROUP, bob.id), ChatMemberMember)
    assert (await bot.get_chat_member(GROUP, 99)).status == "left"
    assert await bot.get_chat_member_count(GROUP) == 3


async def test_bot_removed_then_added_back(
    sandbox: SandboxTelegram, bot: Bot, people: People
) -> None:
    ada, bob = people
    sandbox.remove_bot_from_group(GROUP, ada)
    with pytest.raises(Forbidden, match="kicked"):
        await bot.send_message(GROUP, "anyone?")
    assert sandbox.user_sends_in_group(bob, GROUP, "/room") is None  # it hears nothing there
    sandbox.add_bot_to_group(GROUP, ada)
    await bot.send_message(GROUP, "back")
    changes = [u.my_chat_member for u in await bot.get_updates() if u.my_chat_member]
    assert [(c.old_chat_member.status, c.new_chat_member.status) for c in changes] == [
        ("member", "kicked"),
        ("kicked", "member"),
    ]


async def test_supergroup_migration(sandbox: SandboxTelegram, bot: Bot, people: People) -> None:
    ada, _ = people
    sandbox.migrate_to_supergroup(GROUP, -1004001)
    (update,) = await bot.get_updates()
    assert update.message is not None
    assert update.message.migrate_to_chat_id == -1004001
    with pytest.raises(ChatMigrated) as moved:
        await bot.send_message(GROUP, "old id")
    assert moved.value.new_chat_id == -1004001
    sent = await bot.send_message(-1004001, "new id")
    assert sent.chat.type == "supergroup"
    assert isinstance(await bot.get_chat_member(-1004001, ada.id), ChatMemberOwner)


async def test_joins_leaves_and_edits(sandbox: SandboxTelegram, bot: Bot, people: People) -> None:
    ada, _ = people
    cy = sandbox.add_user(13, "Cy")
    sandbox.user_joins_group(cy, GROUP)
    update = sandbox.user_sends_in_group(cy, GROUP, "/status")
    assert update is not None
    sent = sandbox.messages[(GROUP, max(i for c, i in sandbox.messages if c == GROUP))]
    sandbox.user_edits_in_group(cy, GROUP, sent["message_id"], "/status now")
    sandbox.user_leaves_group(cy, GROUP)
    updates = await bot.get_updates()
    joined, edited, left = updates[0].message, updates[2].edited_message, updates[3].message
    assert joined is not None and edited is not None and left is not None
    assert joined.new_chat_members[0].id == cy.id
    assert edited.text == "/status now"
    assert left.left_chat_member is not None
    assert left.left_chat_member.id == cy.id
    assert isinstance(await bot.get_chat_member(GROUP, ada.id), ChatMemberOwner | ChatMemberAdministrator)
    with pytest.raises(BadRequest):
        await bot.get_chat_member(-999, ada.id)
