"""Action.Execute: the adaptiveCard/action invoke becomes an ActionEvent and is answered in
the HTTP response with the refreshed card (or a message)."""

from __future__ import annotations

from bridge.model import Action, ActionEvent, ChatEvent, ContactEvent, Destination, Post, Reply, SentRef
from sandbox.teams import SandboxTeams
from tests.teams.conftest import Bot


async def _task_card(bot: Bot, sandbox: SandboxTeams) -> tuple[SandboxTeams, SentRef, ContactEvent]:
    user = sandbox.add_user("Ada")
    await sandbox.push(sandbox.installation_update(user))
    (contact,) = await bot.sink.wait_for(1)
    assert isinstance(contact, ContactEvent)
    post = Post(
        text="<b>Leave request</b>",
        actions=(
            Action("t9:ok", "Approve", "primary"),
            Action("t9:no", "Reject", "danger", needs_reason=True),
        ),
    )
    ref = await bot.adapter.send(Destination(contact.identity, contact.room, contact.address), post)
    return sandbox, ref, contact


async def test_execute_invoke_gives_action_event_and_refreshed_card(bot: Bot, sandbox: SandboxTeams) -> None:
    _, ref, contact = await _task_card(bot, sandbox)

    def answer(event: ChatEvent) -> Reply | None:
        if isinstance(event, ActionEvent):
            return Reply(
                replace=Post(text="<b>Leave request</b> rejected", fallback="Leave request: rejected")
            )
        return None

    bot.sink.reply_for = answer
    user = sandbox.users[dict(contact.address or {})["user"]["id"]]
    invoke = sandbox.card_action(
        user, verb="pluto", data={"action": "t9:no", "reason": " too busy "}, reply_to_id=ref.message_id
    )
    status, body = await sandbox.push(invoke)
    assert status == 200
    assert body["statusCode"] == 200
    assert body["type"] == "application/vnd.microsoft.card.adaptive"
    card = body["value"]
    assert sandbox.validate_card(card) == []
    assert card["body"] == [{"type": "TextBlock", "text": "Leave request: rejected", "wrap": True}]
    assert "actions" not in card  # retired: no buttons left
    event = bot.sink.events[-1]
    assert isinstance(event, ActionEvent)
    assert event.action_id == "t9:no"
    assert event.reason == "too busy"
    assert event.message == SentRef(ref.room, ref.message_id)
    assert event.event_id == invoke["id"]
    assert event.identity == contact.identity


async def test_execute_invoke_with_text_reply_answers_with_a_message(bot: Bot, sandbox: SandboxTeams) -> None:
    _, ref, contact = await _task_card(bot, sandbox)
    bot.sink.reply_for = lambda e: Reply(texts=("That task was already decided.",))
    user = sandbox.users[dict(contact.address or {})["user"]["id"]]
    status, body = await sandbox.push(
        sandbox.card_action(user, verb="pluto", data={"action": "t9:ok"}, reply_to_id=ref.message_id)
    )
    assert status == 200
    assert body == {
        "statusCode": 200,
        "type": "application/vnd.microsoft.activity.message",
        "value": "That task was already decided.",
    }


async def test_unknown_verb_is_refused_without_reaching_the_core(bot: Bot, sandbox: SandboxTeams) -> None:
    _, ref, contact = await _task_card(bot, sandbox)
    user = sandbox.users[dict(contact.address or {})["user"]["id"]]
    status, body = await sandbox.push(
        sandbox.card_action(user, verb="other", data={"action": "x"}, reply_to_id=ref.message_id)
    )
    assert status == 200 and body["statusCode"] == 400
    assert [type(e) for e in bot.sink.events] == [ContactEvent]
