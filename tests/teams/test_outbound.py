"""Outbound: sends, replies, cards, edits, deletes and proactive sends as recorded on the
sandbox's wire, and the mapping of connector failures onto the adapter contract."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.teams import TeamsAdapter, card_text
from bridge.model import Action, ContactEvent, Destination, Pace, Post, SentRef
from bridge.ports import PermanentError, RateLimited, RecipientUnreachable, TransientError
from sandbox.teams import SandboxTeams, TeamsUser
from tests.conftest import free_port
from tests.teams.conftest import Bot, make_adapter
from tests.teams.sandbox_tokens import connections_for


async def _contact(bot: Bot, sandbox: SandboxTeams, name: str) -> tuple[TeamsUser, ContactEvent]:
    """Install the app for a new person and return the ContactEvent the core stored."""
    user = sandbox.add_user(name)
    before = len(bot.sink.events)
    await sandbox.push(sandbox.installation_update(user))
    events = await bot.sink.wait_for(before + 1)
    event = events[before]
    assert isinstance(event, ContactEvent)
    return user, event


def _dest(event: ContactEvent, *, room: bool = True) -> Destination:
    return Destination(identity=event.identity, room=event.room if room else None, address=event.address)


def _connector_calls(sandbox: SandboxTeams, method: str | None = None) -> list[Any]:
    return [
        r for r in sandbox.requests if r.path.startswith("/v3/") and (method is None or r.method == method)
    ]


@pytest.fixture
async def fresh(sandbox: SandboxTeams) -> AsyncIterator[TeamsAdapter]:
    """A second adapter instance, as after a restart: it knows only what the core stored."""
    adapter = make_adapter(sandbox)
    yield adapter
    await adapter.stop()


async def test_proactive_send_after_restart_reaches_the_conversation(
    bot: Bot, sandbox: SandboxTeams, fresh: TeamsAdapter
) -> None:
    _, event = await _contact(bot, sandbox, "Ada")
    ref = await fresh.send(
        _dest(event), Post(text="<p>New message from <b>Tutor</b></p>", fallback="New message")
    )
    assert ref.room == event.room and ref.message_id
    (stored,) = sandbox.messages_in(event.room)
    assert stored["id"] == ref.message_id
    assert stored["text"] == "<p>New message from <b>Tutor</b></p>"
    assert stored["textFormat"] == "xml"
    call = _connector_calls(sandbox, "POST")[-1]
    assert call.path == f"/v3/conversations/{event.room}/activities"
    assert call.headers["Authorization"].startswith("Bearer ")
    assert sandbox.validation_errors == []


async def test_send_without_room_creates_the_personal_conversation(
    bot: Bot, sandbox: SandboxTeams, fresh: TeamsAdapter
) -> None:
    _, event = await _contact(bot, sandbox, "Grace")
    ref = await fresh.send(_dest(event, room=False), Post(text="hello"))
    create = [r for r in _connector_calls(sandbox, "POST") if r.path == "/v3/conversations"]
    assert len(create) == 1
    assert create[0].body["bot"]["id"] == f"28:{sandbox.app_id}"
    assert create[0].body["isGroup"] is False
    assert create[0].body["tenantId"] == sandbox.tenant_id
    assert ref.room == event.room  # the 1:1 chat already existed: Teams returns it
    assert [a["text"] for a in sandbox.messages_in(ref.room)] == ["hello"]


async def test_create_conversation_403_means_app_not_installed(
    bot: Bot, sandbox: SandboxTeams, fresh: TeamsAdapter
) -> None:
    user, event = await _contact(bot, sandbox, "Gone")
    await sandbox.push(sandbox.installation_update(user, action="remove"))
    with pytest.raises(RecipientUnreachable) as info:
        await fresh.send(_dest(event, room=False), Post(text="hello"))
    assert "not installed" in info.value.reason


async def test_send_without_address_is_permanent(
    fresh: TeamsAdapter, bot: Bot, sandbox: SandboxTeams
) -> None:
    _, event = await _contact(bot, sandbox, "Nobody")
    with pytest.raises(PermanentError):
        await fresh.send(Destination(identity=event.identity, room=event.room), Post(text="x"))


async def test_reply_to_posts_to_the_activity(bot: Bot, sandbox: SandboxTeams) -> None:
    _, event = await _contact(bot, sandbox, "Alan")
    first = await bot.adapter.send(_dest(event), Post(text="first"))
    await bot.adapter.send(_dest(event), Post(text="answer", reply_to=first.message_id))
    call = _connector_calls(sandbox, "POST")[-1]
    assert call.path == f"/v3/conversations/{event.room}/activities/{first.message_id}"
    assert call.body["replyToId"] == first.message_id


async def test_actions_become_an_adaptive_card(bot: Bot, sandbox: SandboxTeams) -> None:
    _, event = await _contact(bot, sandbox, "Barbara")
    post = Post(
        text="<b>Task</b>: approve leave",
        fallback="Task: approve leave",
        actions=(
            Action("t1:ok", "Approve", style="primary"),
            Action("t1:no", "Reject", style="danger", needs_reason=True),
            Action("t1:open", "Open in Pluto", url="https://pluto.example/task/1"),
        ),
    )
    ref = await bot.adapter.send(_dest(event), post)
    (stored,) = sandbox.messages_in(ref.room)
    assert stored["text"] == post.text
    (attachment,) = stored["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert sandbox.validate_card(card) == []
    assert card["version"] == "1.5"
    assert card["actions"] == [
        {
            "type": "Action.Execute",
            "title": "Approve",
            "verb": "pluto",
            "data": {"action": "t1:ok"},
            "associatedInputs": "none",  # takes no reason: a reason typed for Reject is not sent with it
            "style": "positive",
        },
        {
            "type": "Action.Execute",
            "title": "Reject",
            "verb": "pluto",
            "data": {"action": "t1:no"},
            "style": "destructive",
        },
        {"type": "Action.OpenUrl", "title": "Open in Pluto", "url": "https://pluto.example/task/1"},
    ]
    (reason,) = card["body"]
    assert (reason["type"], reason["id"], reason.get("isRequired", False)) == ("Input.Text", "reason", False)
    assert sandbox.validation_errors == []


async def test_edit_retires_the_card_and_delete_removes(bot: Bot, sandbox: SandboxTeams) -> None:
    _, event = await _contact(bot, sandbox, "Edsger")
    ref = await bot.adapter.send(_dest(event), Post(text="Task", actions=(Action("a", "Accept"),)))
    # An instance that has seen no traffic, whose default serviceUrl leads nowhere: the
    # stored address in the Destination is all it has.
    restarted = TeamsAdapter(
        app_id=sandbox.app_id,
        app_password=sandbox.app_password,
        connections=connections_for(sandbox),
        jwks_url=sandbox.jwks_url,
        service_url=f"http://127.0.0.1:{free_port()}/",
        timeout=5.0,
    )
    await restarted.edit(_dest(event), ref, Post(text="Task <i>(accepted)</i>"))
    put = _connector_calls(sandbox, "PUT")[-1]
    assert put.path == f"/v3/conversations/{ref.room}/activities/{ref.message_id}"
    (stored,) = sandbox.messages_in(ref.room)
    assert stored["text"] == "Task <i>(accepted)</i>"
    assert not stored.get("attachments")
    await restarted.delete(_dest(event), ref)
    assert sandbox.messages_in(ref.room) == []
    assert _connector_calls(sandbox, "DELETE")[-1].path == put.path
    await restarted.stop()


async def test_edit_without_stored_address_is_permanent(bot: Bot, sandbox: SandboxTeams) -> None:
    _, event = await _contact(bot, sandbox, "Noaddr")
    ref = await bot.adapter.send(_dest(event), Post(text="Task"))
    bare = Destination(identity=event.identity, room=event.room)
    with pytest.raises(PermanentError):
        await bot.adapter.edit(bare, ref, Post(text="Task (done)"))
    with pytest.raises(PermanentError):
        await bot.adapter.delete(bare, ref)
    assert [a["text"] for a in sandbox.messages_in(ref.room)] == ["Task"]
    assert not _connector_calls(sandbox, "PUT") and not _connector_calls(sandbox, "DELETE")


async def test_hostile_text_is_sent_as_given(bot: Bot, sandbox: SandboxTeams) -> None:
    _, event = await _contact(bot, sandbox, "Eve")
    hostile = '<at>Everyone</at> <script>alert(1)</script> &amp; "quotes"'
    ref = await bot.adapter.send(_dest(event), Post(text=hostile))
    assert sandbox.messages_in(ref.room)[0]["text"] == hostile


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [
        (429, 3, RateLimited),
        (403, None, RecipientUnreachable),
        (404, None, RecipientUnreachable),
        (412, None, TransientError),
        (412, 4, TransientError),
        (500, None, TransientError),
        (502, None, TransientError),
        (502, 5, TransientError),
        (504, None, TransientError),
        (400, None, PermanentError),
    ],
)
async def test_error_mapping(
    bot: Bot, sandbox: SandboxTeams, status: int, retry_after: float | None, expected: type[Exception]
) -> None:
    _, event = await _contact(bot, sandbox, "Err")
    sandbox.fail_next(status, method="POST", conversation=event.room, retry_after=retry_after)
    with pytest.raises(expected) as info:
        await bot.adapter.send(_dest(event), Post(text="x"))
    assert type(info.value) is expected
    if isinstance(info.value, RateLimited):
        assert info.value.retry_after == 3 and info.value.given
    if isinstance(info.value, TransientError) and retry_after is not None:
        assert info.value.retry_after == retry_after  # Retry-After honoured on 412/502/504 too
    assert sandbox.messages_in(event.room) == []


async def test_429_without_retry_after_backs_off(bot: Bot, sandbox: SandboxTeams) -> None:
    _, event = await _contact(bot, sandbox, "Jitter")
    sandbox.fail_next(429, method="POST", conversation=event.room)
    with pytest.raises(RateLimited) as info:
        await bot.adapter.send(_dest(event), Post(text="x"))
    assert 1.0 <= info.value.retry_after <= 2.0
    assert not info.value.given  # a first guess, which the core doubles while throttling lasts


async def test_edit_of_gone_message_is_unreachable(bot: Bot, sandbox: SandboxTeams) -> None:
    _, event = await _contact(bot, sandbox, "Vanish")
    with pytest.raises(RecipientUnreachable) as info:
        await bot.adapter.edit(_dest(event), SentRef(event.room, "1999"), Post(text="x"))
    assert "gone" in info.value.reason


async def test_throttled_conversation_does_not_hold_up_another(bot: Bot, sandbox: SandboxTeams) -> None:
    _, slow = await _contact(bot, sandbox, "Busy")
    _, other = await _contact(bot, sandbox, "Calm")
    sandbox.enforce_limits = True
    sandbox.limits = ((7, 3600.0),)  # Teams' 7 per conversation, in a window no test run outlasts
    for i in range(7):  # Teams allows 7 per second per conversation
        await bot.adapter.send(_dest(slow), Post(text=f"m{i}"))
    with pytest.raises(RateLimited) as info:
        await bot.adapter.send(_dest(slow), Post(text="one too many"))
    assert info.value.retry_after > 0
    ref = await bot.adapter.send(_dest(other), Post(text="still flowing"))
    assert [a["text"] for a in sandbox.messages_in(ref.room)] == ["still flowing"]
    assert len(sandbox.messages_in(slow.room)) == 7


async def test_outbound_token_is_fetched_once_and_cached(bot: Bot, sandbox: SandboxTeams) -> None:
    _, event = await _contact(bot, sandbox, "Cache")
    for i in range(5):
        await bot.adapter.send(_dest(event), Post(text=f"m{i}"))
    await bot.adapter.edit(
        _dest(event), SentRef(event.room, sandbox.messages_in(event.room)[0]["id"]), Post(text="e")
    )
    assert len(sandbox.token_requests) == 1
    (request,) = sandbox.token_requests
    assert request["client_id"] == sandbox.app_id
    assert request["scope"] == "https://api.botframework.com/.default"
    assert "client_secret" not in request  # the sandbox never records the secret
    tokens = {r.headers["Authorization"] for r in sandbox.requests if r.path.startswith("/v3/")}
    assert len(tokens) == 1


async def test_wrong_secret_is_a_permanent_error(sandbox: SandboxTeams, bot: Bot) -> None:
    _, event = await _contact(bot, sandbox, "Secret")
    wrong = TeamsAdapter(
        app_id=sandbox.app_id,
        app_password="not-the-secret",
        connections=connections_for(sandbox, app_password="not-the-secret"),
        jwks_url=sandbox.jwks_url,
    )
    with pytest.raises(PermanentError) as info:
        await wrong.send(_dest(event), Post(text="x"))
    assert "401" in info.value.reason
    assert sandbox.messages_in(event.room) == []


def _most_in_window(paces: tuple[Pace, ...], window: float) -> float:
    """The most sends leaky buckets (aiolimiter: ``count`` at once, then ``count/seconds``
    per second) admit in any ``window`` seconds: the tightest of the paces."""
    return min(p.count + p.count / p.seconds * window for p in paces)


def test_declared_paces_fit_every_teams_window() -> None:
    """The dispatcher paces with the adapter's Capabilities; a pace that admits more than a
    Teams window holds would earn 429s. Keep a margin for network jitter."""
    caps = TeamsAdapter.capabilities
    sandbox = SandboxTeams()
    for count, window in sandbox.limits:
        assert _most_in_window(caps.per_room, window) <= count - 1, (count, window)
    for count, window in sandbox.app_limits:
        assert _most_in_window(caps.overall, window) <= count - 1, (count, window)


async def test_send_after_uninstall_is_unreachable(bot: Bot, sandbox: SandboxTeams) -> None:
    user, event = await _contact(bot, sandbox, "Leaver")
    await sandbox.push(sandbox.installation_update(user, action="remove"))
    with pytest.raises(RecipientUnreachable) as info:
        await bot.adapter.send(_dest(event), Post(text="hello?"))
    assert "not installed" in info.value.reason
    assert sandbox.messages_in(event.room) == []


async def test_longest_post_fits_the_payload_limit(bot: Bot, sandbox: SandboxTeams) -> None:
    """The worst case the core can hand over: text of ``max_text`` JSON bytes (emoji, 12
    bytes each, the same as fallback), and the most buttons with the longest ids."""
    _, event = await _contact(bot, sandbox, "Verbose")
    caps = TeamsAdapter.capabilities
    body = "\U0001f600" * ((caps.max_text - caps.measure("<p></p>")) // 12)
    assert caps.measure(f"<p>{body}</p>") > caps.max_text - 12
    actions = tuple(
        Action(f"{n}" * 64, f"Кнопка {n} " * 4, url=None, needs_reason=n == 0) for n in range(caps.max_actions)
    )
    ref = await bot.adapter.send(_dest(event), Post(text=f"<p>{body}</p>", fallback=body, actions=actions))
    (stored,) = sandbox.messages_in(ref.room)
    assert stored["text"] == f"<p>{body}</p>"
    assert len(stored["summary"]) == 200 and stored["summary"].endswith("\u2026")
    assert sandbox.validation_errors == []


async def test_oversized_post_is_a_permanent_error(bot: Bot, sandbox: SandboxTeams) -> None:
    _, event = await _contact(bot, sandbox, "Huge")
    with pytest.raises(PermanentError) as info:
        await bot.adapter.send(_dest(event), Post(text="Ж" * 6000))
    assert "too large" in info.value.reason
    assert [r.status for r in _connector_calls(sandbox, "POST")] == [413]
    assert sandbox.messages_in(event.room) == []


def test_card_text_keeps_lines_marks_and_links_without_markdown() -> None:
    teams_html = (
        '<p>See <a href="https://pluto.example/a">the *brief*</a><br>by <code>Friday</code></p>'
        "<p>\u2022 one<br>\u2022 two</p><pre>a  b</pre>"
    )
    elements = card_text(teams_html)
    assert SandboxTeams().validate_card({"type": "AdaptiveCard", "version": "1.5", "body": elements}) == []
    assert elements == [
        {
            "type": "RichTextBlock",
            "inlines": [
                {"type": "TextRun", "text": "See "},
                {
                    "type": "TextRun",
                    "text": "the *brief*",
                    "selectAction": {"type": "Action.OpenUrl", "url": "https://pluto.example/a"},
                },
            ],
        },
        {
            "type": "RichTextBlock",
            "inlines": [
                {"type": "TextRun", "text": "by "},
                {"type": "TextRun", "text": "Friday", "fontType": "Monospace"},
            ],
            "spacing": "None",
        },
        {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": "\u2022 one"}]},
        {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": "\u2022 two"}], "spacing": "None"},
        {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": "a  b", "fontType": "Monospace"}]},
    ]
