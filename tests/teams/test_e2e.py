"""End to end on Teams: the real ``pluto-bridge run`` process with only Teams enabled, the
sandbox Bot Connector at Teams' real limits, and the sandbox LMS. Assertions are on what
the person sees in the personal chat (what the connector stored) and what the LMS stores."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bridge.lms.client import LmsClient
from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.teams import SandboxTeams, TokenSwitches
from tests.teams.conftest import TeamsChat, start_bridge, teams_bridge_config, visible

pytestmark = pytest.mark.e2e

GREETING = "This bot brings your Pluto messages here"


def texts_from(lms: SandboxLMS, conversation_id: int | None, author: int) -> list[str]:
    if conversation_id is None:
        return []
    return [m["text"] for m in lms.messages_in(conversation_id) if m["useridfrom"] == author]


async def until(chat: TeamsChat, predicate: Callable[[], bool], limit: float = 15.0) -> None:
    """Wait for an LMS-side condition; the LMS is polled as the bridge acts on it."""
    deadline = asyncio.get_running_loop().time() + limit
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out; bridge stderr:\n" + "\n".join(chat.bridge.err[-20:]))
        await asyncio.sleep(0.05)


def stored_contact(db: Path) -> dict[str, object]:
    with sqlite3.connect(db) as conn:
        ((address,),) = conn.execute("SELECT address FROM contacts WHERE platform = 'teams'").fetchall()
    parsed: dict[str, object] = json.loads(address) if isinstance(address, str) else address
    return parsed


async def test_install_greets_once_stores_reference_and_links(
    chat: TeamsChat, lms: SandboxLMS, seed: DemoSeed, tmp_path: Path
) -> None:
    sam = chat.sandbox.add_user("Sam Mentee")
    await chat.install(sam)
    await chat.wait_for_text(sam, GREETING)
    # The conversation reference from the install is what the bridge keeps to reach Sam.
    address = stored_contact(tmp_path / "bridge.sqlite3")
    assert address["serviceUrl"] == chat.sandbox.service_url
    assert address["conversation"] == {
        "id": chat.room(sam),
        "conversationType": "personal",
        "tenantId": chat.sandbox.tenant_id,
    }
    assert address["user"]["id"] == sam.id  # type: ignore[index]

    await chat.link(sam, "mentee1")
    # installationUpdate and conversationUpdate are one install: greeted once.
    assert sum(GREETING in t for t in chat.texts(sam)) == 1
    (confirmation,) = [t for t in chat.texts(sam) if "Linked to Pluto as" in t]
    assert "Sam Mentee" in visible(confirmation) and "mentee1" in visible(confirmation)
    assert chat.sandbox.validation_errors == []


async def test_both_directions(chat: TeamsChat, lms: SandboxLMS, seed: DemoSeed) -> None:
    sam = chat.sandbox.add_user("Sam Mentee")
    await chat.install(sam)
    await chat.link(sam, "mentee1")
    sent = lms.post_message(seed.mentor_id, seed.mentee1_id, "Ready for module 2?")
    shown = visible(await chat.wait_for_text(sam, "Ready for module 2?"))
    assert "Maya Mentor" in shown
    await chat.say(sam, "Yes, ready on Friday")
    conversation = sent["conversationid"]
    await until(chat, lambda: texts_from(lms, conversation, seed.mentee1_id) == ["Yes, ready on Friday"])


async def test_replies_go_to_the_conversation_replied_to(
    chat: TeamsChat, lms: SandboxLMS, seed: DemoSeed
) -> None:
    sam = chat.sandbox.add_user("Sam Mentee")
    await chat.install(sam)
    await chat.link(sam, "mentee1")
    from_mentor = lms.post_message(seed.mentor_id, seed.mentee1_id, "Mentor question: module 2?")
    await chat.wait_for_text(sam, "Mentor question")
    from_alex = lms.post_message(seed.mentee2_id, seed.mentee1_id, "Alex here: lunch?")
    await chat.wait_for_text(sam, "Alex here")
    by_text = {visible(a["text"]): a["id"] for a in chat.sandbox.messages_in(chat.room(sam))}
    mentor_id = next(i for t, i in by_text.items() if "Mentor question" in t)
    alex_id = next(i for t, i in by_text.items() if "Alex here" in t)
    mentor_conv, alex_conv = from_mentor["conversationid"], from_alex["conversationid"]

    # Alex wrote last, yet a reply to the mentor's message goes to the mentor.
    await chat.say(sam, "Yes, module 2 is done.", reply_to_id=mentor_id)
    await until(chat, lambda: texts_from(lms, mentor_conv, seed.mentee1_id) == ["Yes, module 2 is done."])
    await chat.say(sam, "Lunch sounds good.", reply_to_id=alex_id)
    await until(chat, lambda: texts_from(lms, alex_conv, seed.mentee1_id) == ["Lunch sounds good."])
    # Without a reply, text goes to the conversation last answered.
    await chat.say(sam, "At noon?")
    await until(chat, lambda: texts_from(lms, alex_conv, seed.mentee1_id)[-1:] == ["At noon?"])
    assert texts_from(lms, mentor_conv, seed.mentee1_id) == ["Yes, module 2 is done."]


HOSTILE = "<b>x</b> & <!channel> <@U1> @everyone <at>Boss</at> **bold** <https://evil|click>"


async def test_hostile_text_is_inert_both_ways(chat: TeamsChat, lms: SandboxLMS, seed: DemoSeed) -> None:
    sam = chat.sandbox.add_user("Sam Mentee")
    await chat.install(sam)
    await chat.link(sam, "mentee1")
    sent = lms.post_message(seed.mentor_id, seed.mentee1_id, HOSTILE)
    await chat.wait_for_text(sam, "everyone")
    (wire,) = [
        r.body
        for r in chat.sandbox.requests
        if r.method == "POST" and r.path.endswith("/activities") and "everyone" in str(r.body)
    ]
    text = wire["text"]
    # What the mentor typed is shown literally: no tag, mention, link or entity is made of it.
    assert HOSTILE in visible(text)
    # The only markup is the bridge's own: the author's name in bold.
    assert text.startswith("<p><b>Maya Mentor</b></p>")
    for live in ("<b>x", "<at>", "<a ", "<!channel>", "<@U1>", "<https:"):
        assert live not in text, live
    assert "&lt;at&gt;Boss&lt;/at&gt;" in text and "&lt;b&gt;x&lt;/b&gt;" in text
    assert not [e for e in wire.get("entities") or [] if e.get("type") == "mention"]
    assert not wire.get("attachments")

    # Sam's hostile text (Teams escapes what a person types) reaches Pluto as the
    # characters Sam typed, not as markup; a Teams mention is just the name.
    await chat.say(
        sam, "&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;hi&lt;/b&gt; &amp; <at>Boss</at> @everyone"
    )
    await until(chat, lambda: len(texts_from(lms, sent["conversationid"], seed.mentee1_id)) == 1)
    (stored,) = lms.messages_in(sent["conversationid"])[-1:]
    # Sent as plain text (textformat 2): Pluto escapes it when it shows it.
    assert stored["useridfrom"] == seed.mentee1_id and stored["textformat"] == 2
    assert stored["text"] == "<script>alert(1)</script> <b>hi</b> & Boss @everyone"


async def test_throttled_chat_does_not_hold_up_another(
    chat: TeamsChat, lms: SandboxLMS, seed: DemoSeed
) -> None:
    sam, alex = chat.sandbox.add_user("Sam Mentee"), chat.sandbox.add_user("Alex Mentee")
    for user, username in ((sam, "mentee1"), (alex, "mentee2")):
        await chat.install(user)
        await chat.link(user, username)
    # Teams throttles Sam's chat for a while; Alex's keeps flowing.
    chat.sandbox.fail_next(429, method="POST", conversation=chat.room(sam), retry_after=3)
    for n in (1, 2, 3):
        lms.post_message(seed.mentor_id, seed.mentee1_id, f"to Sam {n}")
    lms.post_message(seed.mentor_id, seed.mentee2_id, "to Alex")
    await chat.wait_for_text(alex, "to Alex")
    assert not any("to Sam" in t for t in chat.texts(sam))
    throttled = [r for r in chat.sandbox.requests if r.status == 429]
    assert [r.conversation for r in throttled] == [chat.room(sam)]
    assert throttled[0].headers.get("Authorization", "").startswith("Bearer ")
    # Then Sam receives everything, once each, in order.
    await chat.wait_for_text(sam, "to Sam 3", limit=20)
    shown = [visible(t) for t in chat.texts(sam) if "to Sam" in t]
    assert [n for s in shown for n in ("1", "2", "3") if f"to Sam {n}" in s] == ["1", "2", "3"]


async def test_proactive_message_after_restart(
    lms: SandboxLMS, seed: DemoSeed, live_sandbox: SandboxTeams, tmp_path: Path
) -> None:
    config, port = teams_bridge_config(tmp_path, lms.url, live_sandbox)
    first = await start_bridge(config, port)
    sam = live_sandbox.add_user("Sam Mentee")
    try:
        chat = TeamsChat(live_sandbox, first, port)
        await chat.install(sam)
        await chat.link(sam, "mentee1")
    finally:
        assert await first.stop() == 0
    tokens_before = len(live_sandbox.token_requests)

    second = await start_bridge(config, port)
    try:
        chat = TeamsChat(live_sandbox, second, port)
        lms.post_message(seed.mentor_id, seed.mentee1_id, "Welcome back after the restart")
        await chat.wait_for_text(sam, "Welcome back after the restart")
        # Nothing was pushed to the new process: it reached Sam through the conversation
        # reference stored at install time, with an outbound token of its own.
        assert len(live_sandbox.token_requests) == tokens_before + 1
        post = [r for r in live_sandbox.requests if "Welcome back" in str(r.body)][-1]
        assert post.path == f"/v3/conversations/{chat.room(sam)}/activities" and post.status == 201
    finally:
        await second.stop()


async def test_every_forged_token_is_refused_by_the_bridge(
    chat: TeamsChat, lms: SandboxLMS, seed: DemoSeed
) -> None:
    sam = chat.sandbox.add_user("Sam Mentee")
    await chat.install(sam)
    await chat.link(sam, "mentee1")
    sent = lms.post_message(seed.mentor_id, seed.mentee1_id, "Anything to report?")
    await chat.wait_for_text(sam, "Anything to report?")
    before = len(chat.texts(sam))
    switches = [f.name for f in dataclasses.fields(TokenSwitches)]
    assert len(switches) >= 6
    answers = {}
    for switch in switches:
        forged = chat.sandbox.message(sam, f"forged with {switch}")
        answers[switch], _ = await chat.sandbox.push(forged, switches=TokenSwitches(**{switch: True}))
    assert answers == dict.fromkeys(switches, 401)
    # The same person, properly signed, goes through; no forged text ever did.
    await chat.say(sam, "genuine")
    await until(chat, lambda: texts_from(lms, sent["conversationid"], seed.mentee1_id) == ["genuine"])
    assert len(chat.texts(sam)) == before


async def unread_notifications(lms: SandboxLMS, userid: int) -> set[int]:
    """What the person's Pluto shows as unread notifications (asked as the person)."""
    async with LmsClient(lms.url) as client:
        data = await client.call(
            lms.issue_token(userid), "core_message_get_messages",
            useridto=userid, type="notifications", read=0, limitnum=50,
        )
    return {m["id"] for m in data["messages"]}


async def test_alert_card_pressed_in_teams_marks_it_read(
    chat: TeamsChat, lms: SandboxLMS, seed: DemoSeed
) -> None:
    sam = chat.sandbox.add_user("Sam Mentee")
    await chat.install(sam)
    await chat.link(sam, "mentee1")
    alert = lms.notify(
        seed.mentee1_id, subject="Essay 1 is due tomorrow", text="Submit by 17:00",
        component="mod_assign", eventtype="assign_notification",
        contexturl=f"{lms.url}/mod/assign/view.php?id=5",
    )
    await chat.wait_for_text(sam, "Essay 1 is due tomorrow")
    message = chat.sandbox.messages_in(chat.room(sam))[-1]
    (attachment,) = message["attachments"]
    card = attachment["content"]
    assert chat.sandbox.validate_card(card) == []
    buttons = {a["title"]: a for a in card["actions"]}
    assert buttons["Open in Pluto"] == {
        "type": "Action.OpenUrl", "title": "Open in Pluto", "url": f"{lms.url}/mod/assign/view.php?id=5",
    }
    assert buttons["Mark read"]["type"] == "Action.Execute"

    # Sam presses "Mark read": Teams sends the adaptiveCard/action invoke and shows the
    # card the bridge answers with in place of the old one.
    press = chat.sandbox.card_action(
        sam, verb=buttons["Mark read"]["verb"], data=buttons["Mark read"]["data"], reply_to_id=message["id"]
    )
    status, body = await chat.sandbox.push(press)
    assert status == 200
    assert body["statusCode"] == 200 and body["type"] == "application/vnd.microsoft.card.adaptive"
    assert chat.sandbox.validate_card(body["value"]) == []
    assert "Marked read by Sam Mentee" in json.dumps(body["value"])
    assert "actions" not in body["value"]  # no button left to press twice
    assert alert not in await unread_notifications(lms, seed.mentee1_id)
    # The stored message itself is updated too (PUT at the stored serviceUrl), buttons retired.
    def updated() -> dict[str, Any]:
        return next(a for a in chat.sandbox.messages_in(chat.room(sam)) if a["id"] == message["id"])

    await chat.sandbox.wait_until(lambda: "Marked read" in updated()["text"], 15)
    assert "Marked read by Sam Mentee" in visible(updated()["text"]) and not updated().get("attachments")
    put = [r for r in chat.sandbox.requests if r.method == "PUT"]
    assert [r.path for r in put] == [f"/v3/conversations/{chat.room(sam)}/activities/{message['id']}"]
    assert chat.sandbox.validation_errors == []


def link_status(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute("SELECT status, status_reason FROM links"))


async def test_removed_app_stops_deliveries_until_reinstalled_and_relinked(
    chat: TeamsChat, lms: SandboxLMS, seed: DemoSeed, tmp_path: Path
) -> None:
    sam = chat.sandbox.add_user("Sam Mentee")
    await chat.install(sam)
    await chat.link(sam, "mentee1")
    status, _ = await chat.sandbox.push(chat.sandbox.installation_update(sam, action="remove"))
    assert status in (200, 202)
    lms.post_message(seed.mentor_id, seed.mentee1_id, "Are you still there?")
    db = tmp_path / "bridge.sqlite3"
    await until(chat, lambda: [s for s, _ in link_status(db)] == ["inactive"])
    refused = [r for r in chat.sandbox.requests if r.status == 403]
    assert [r.conversation for r in refused] == [chat.room(sam)]
    # Inactive: later messages are not even tried (they wait in Pluto).
    lms.post_message(seed.mentor_id, seed.mentee1_id, "Hello again?")
    await asyncio.sleep(1.0)  # several poll and dispatch cycles
    assert [r for r in chat.sandbox.requests if r.status == 403] == refused
    # Sam installs the app again and signs in again: messages flow once more.
    await chat.install(sam)
    await chat.link(sam, "mentee1")
    lms.post_message(seed.mentor_id, seed.mentee1_id, "Welcome back, Sam")
    await chat.wait_for_text(sam, "Welcome back, Sam")
    shown = [visible(t) for t in chat.texts(sam)]
    # Written while Sam could not be reached: kept, and delivered once Sam is back.
    assert sum("Hello again?" in t for t in shown) == 1
    # The one the app's removal refused is recorded as not deliverable, with the reason.
    assert not any("Are you still there?" in t for t in shown)
    with sqlite3.connect(db) as conn:
        dead = conn.execute("SELECT status, last_error FROM outbox WHERE payload LIKE '%still there%'").fetchall()
    assert [(status, "not installed" in error) for status, error in dead] == [("dead", True)]


async def test_long_alert_arrives_whole_in_parts_within_the_payload_limit(
    chat: TeamsChat, lms: SandboxLMS, seed: DemoSeed
) -> None:
    sam = chat.sandbox.add_user("Sam Mentee")
    await chat.install(sam)
    await chat.link(sam, "mentee1")
    words = [f"слово{n:04d}" for n in range(900)]  # 9000 characters, each 6 bytes in JSON
    lms.notify(seed.mentee1_id, subject="Длинное объявление", text=" ".join(words))
    await chat.wait_for_text(sam, words[-1], limit=20)
    parts = [a for a in chat.sandbox.messages_in(chat.room(sam)) if "слово" in a["text"]]
    assert len(parts) >= 3
    shown = re.findall(r"слово\d{4}", " ".join(visible(a["text"]) for a in parts))
    assert shown == words
    # The buttons come once, with the last part.
    assert parts[-1]["attachments"] and not any(a.get("attachments") for a in parts[:-1])
    assert [r.status for r in chat.sandbox.requests if r.status >= 400] == []


async def test_activity_sent_twice_is_relayed_once(chat: TeamsChat, lms: SandboxLMS, seed: DemoSeed) -> None:
    sam = chat.sandbox.add_user("Sam Mentee")
    await chat.install(sam)
    await chat.link(sam, "mentee1")
    sent = lms.post_message(seed.mentor_id, seed.mentee1_id, "Did you get the slides?")
    await chat.wait_for_text(sam, "Did you get the slides?")
    # Teams may deliver one Activity again (a slow answer, a retry): same id, same content.
    activity = chat.sandbox.message(sam, "Got them, thanks")
    for _ in range(2):
        status, _ = await chat.sandbox.push(activity)
        assert status in (200, 202)
    await chat.say(sam, "And the notes too")
    conversation = sent["conversationid"]
    await until(chat, lambda: texts_from(lms, conversation, seed.mentee1_id)[-1:] == ["And the notes too"])
    assert texts_from(lms, conversation, seed.mentee1_id) == ["Got them, thanks", "And the notes too"]
