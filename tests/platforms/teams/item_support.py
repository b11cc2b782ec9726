"""Helpers for the end-to-end tests of alerts, tasks and contact requests on Teams: Sam
presses card buttons as the Teams client does and the tests read what the connector
stores and what Pluto stores."""

from __future__ import annotations

from typing import Any

from sandbox.teams import CARD_CONTENT_TYPE, TeamsUser
from tests.platforms.teams.conftest import TeamsChat, visible

MESSAGE_RESPONSE = "application/vnd.microsoft.activity.message"




async def linked_sam(chat: TeamsChat) -> TeamsUser:
    """Sam installs the app and links it to mentee1."""
    sam = chat.sandbox.add_user("Sam Mentee")
    await chat.install(sam)
    await chat.link(sam, "mentee1")
    return sam


def card_of(message: dict[str, Any]) -> dict[str, Any]:
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == CARD_CONTENT_TYPE
    content: dict[str, Any] = attachment["content"]
    return content


def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    """(type, title) of each button on the message's card, in order."""
    return [(a["type"], a["title"]) for a in card_of(message).get("actions", [])]


def stored(chat: TeamsChat, user: TeamsUser, message_id: str) -> dict[str, Any]:
    """The message as the connector holds it now (after any update)."""
    return next(a for a in chat.sandbox.messages_in(chat.room(user)) if a["id"] == message_id)


async def arrival(chat: TeamsChat, user: TeamsUser, needle: str) -> dict[str, Any]:
    """The bot's message whose text contains ``needle``, once it arrives."""
    await chat.wait_for_text(user, needle)
    return next(a for a in chat.sandbox.messages_in(chat.room(user)) if needle in a["text"])


async def press(chat: TeamsChat, user: TeamsUser, message: dict[str, Any], title: str, **typed: str) -> dict[str, Any]:
    """``user`` fills the card's fields (``typed``) and presses ``title``; returns what the
    bridge answered the ``adaptiveCard/action`` invoke with (HTTP 200, statusCode 200)."""
    status, body = await chat.sandbox.push(chat.sandbox.button_press(user, message["id"], title, typed))
    assert status == 200, body
    assert body["statusCode"] == 200, body
    answer: dict[str, Any] = body
    return answer


def card_words(card: dict[str, Any]) -> str:
    """The text a card shows (its TextRuns), as one string."""
    return " ".join(
        run["text"] for element in card.get("body", []) for run in element.get("inlines", []) if "text" in run
    )


async def retired(chat: TeamsChat, user: TeamsUser, message: dict[str, Any], outcome: str) -> dict[str, Any]:
    """Wait until the message was updated in place (PUT) to show ``outcome`` with no card."""
    await chat.sandbox.wait_until(lambda: outcome in visible(stored(chat, user, message["id"])["text"]), 15)
    now = stored(chat, user, message["id"])
    assert not now.get("attachments"), now  # no button left to press twice
    return now


def updates(chat: TeamsChat, user: TeamsUser) -> list[str]:
    """Ids of the messages in ``user``'s chat that the bridge updated (PUT), in order."""
    prefix = f"/v3/conversations/{chat.room(user)}/activities/"
    return [
        r.path.removeprefix(prefix)
        for r in chat.sandbox.requests
        if r.method == "PUT" and r.status == 200 and r.path.startswith(prefix)
    ]
