"""Action.Execute: the adaptiveCard/action invoke becomes an ActionEvent and is answered in
the HTTP response with the refreshed card (or a message)."""

from __future__ import annotations

from bridge.model import Action, ActionEvent, ChatEvent, ContactEvent, Destination, Post, Reply, SentRef
from sandbox.teams import SandboxTeams
from tests.platforms.teams.conftest import Bot


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
    replaced = "<p><b>Leave request</b></p><p><i>Rejected: \u201c[x](https://evil.example) **now**\u201d</i></p>"

    def answer(event: ChatEvent) -> Reply | None:
        if isinstance(event, ActionEvent):
            return Reply(replace=Post(text=replaced, fallback="Leave request: rejected"))
        return None

    bot.sink.reply_for = answer
    user = sandbox.users[dict(contact.address or {})["user"]["id"]]
    # Sam types a reason into the card's field and presses Reject, as the Teams client sends it.
    invoke = sandbox.button_press(user, ref.message_id, "Reject", {"reason": " too busy "})
    assert invoke["value"]["action"]["data"] == {"action": "t9:no", "reason": " too busy "}
    status, body = await sandbox.push(invoke)
    assert status == 200
    assert body["statusCode"] == 200
    assert body["type"] == "application/vnd.microsoft.card.adaptive"
    card = body["value"]
    assert sandbox.validate_card(card) == []
    # Drawn with TextRuns, which take no Markdown: what was typed shows as typed.
    assert card["body"] == [
        {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": "Leave request", "weight": "Bolder"}]},
        {
            "type": "RichTextBlock",
            "inlines": [
                {"type": "TextRun", "text": "Rejected: \u201c[x](https://evil.example) **now**\u201d", "italic": True}
            ],
        },
    ]
    assert "actions" not in card  # retired: no buttons left
    event = bot.sink.events[-1]
    assert isinstance(event, ActionEvent)
    assert event.action_id == "t9:no"
    assert event.reason == "too busy"
    assert event.message == SentRef(ref.room, ref.message_id)
    assert event.event_id == invoke["id"]
    assert event.identity == contact.identity
    assert sandbox.validation_errors == []


async def test_the_reason_is_optional_and_sent_only_with_actions_that_take_one(
    bot: Bot, sandbox: SandboxTeams
) -> None:
    _, ref, contact = await _task_card(bot, sandbox)
    user = sandbox.users[dict(contact.address or {})["user"]["id"]]
    # Totara's reason box is optional: Reject goes through with the field empty.
    status, _ = await sandbox.push(sandbox.button_press(user, ref.message_id, "Reject"))
    assert status == 200
    # Approve takes no reason: what was typed into the field is not sent with it.
    status, _ = await sandbox.push(sandbox.button_press(user, ref.message_id, "Approve", {"reason": "typed"}))
    assert status == 200
    pressed = [e for e in bot.sink.events if isinstance(e, ActionEvent)]
    assert [(e.action_id, e.reason) for e in pressed] == [("t9:no", ""), ("t9:ok", "")]


async def test_execute_invoke_with_text_reply_answers_with_a_message(bot: Bot, sandbox: SandboxTeams) -> None:
    _, ref, contact = await _task_card(bot, sandbox)
    bot.sink.reply_for = lambda e: Reply(texts=("<p>That task was <b>already</b> decided &amp; closed.</p>",))
    user = sandbox.users[dict(contact.address or {})["user"]["id"]]
    status, body = await sandbox.push(
        sandbox.card_action(user, verb="pluto", data={"action": "t9:ok"}, reply_to_id=ref.message_id)
    )
    assert status == 200
    # Teams shows a message response as plain text: no tags, entities decoded.
    assert body == {
        "statusCode": 200,
        "type": "application/vnd.microsoft.activity.message",
        "value": "That task was already decided & closed.",
    }


async def test_unknown_verb_is_refused_without_reaching_the_core(bot: Bot, sandbox: SandboxTeams) -> None:
    _, ref, contact = await _task_card(bot, sandbox)
    user = sandbox.users[dict(contact.address or {})["user"]["id"]]
    status, body = await sandbox.push(
        sandbox.card_action(user, verb="other", data={"action": "x"}, reply_to_id=ref.message_id)
    )
    assert status == 200 and body["statusCode"] == 400
    assert [type(e) for e in bot.sink.events] == [ContactEvent]
