"""End to end on Teams: the real ``pluto-bridge run`` process with only Teams enabled, the
sandbox Bot Connector at Teams' real limits, and the sandbox LMS. Assertions are on what
the person sees in the personal chat (what the connector stored) and what the LMS stores.
The Teams-specific life cycle (restart, forged tokens, cards, removal) is in
test_e2e_teams.py."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from tests.platforms.teams.conftest import TeamsChat, visible
from tests.support import lms_texts

pytestmark = pytest.mark.e2e

GREETING = "This bot brings your Pluto messages here"


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

    # Sam's hostile text (Teams delivers typed text raw) reaches Pluto as the characters
    # Sam typed, sent as plain text, not as markup; a typed <at> tag is just text.
    await chat.say(sam, "<script>alert(1)</script> <b>hi</b> & <at>Boss</at> @everyone")
    await chat.until(lambda: len(lms_texts(lms, sent["conversationid"], seed.mentee1_id)) == 1)
    (stored,) = lms.messages_in(sent["conversationid"])[-1:]
    # Sent as plain text (textformat 2): Pluto escapes it when it shows it.
    assert stored["useridfrom"] == seed.mentee1_id and stored["textformat"] == 2
    assert stored["text"] == "<script>alert(1)</script> <b>hi</b> & <at>Boss</at> @everyone"


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
    await chat.until(lambda: lms_texts(lms, conversation, seed.mentee1_id)[-1:] == ["And the notes too"])
    assert lms_texts(lms, conversation, seed.mentee1_id) == ["Got them, thanks", "And the notes too"]


async def test_an_alert_of_many_emoji_arrives_whole_without_413(
    chat: TeamsChat, lms: SandboxLMS, seed: DemoSeed
) -> None:
    # Issue 14.2: each emoji is 12 bytes of escaped JSON, so 2,192 of them passed the old
    # 3,800-character cap and broke Teams' ~28 KB activity limit (413, dead, nobody told).
    sam = await chat.linked("Sam Mentee", "mentee1")
    emoji = "\U0001f600" * 5000
    lms.notify(seed.mentee1_id, subject="Smiles", text=f"<p>{emoji}</p>", component="mod_forum", eventtype="posts")
    await chat.until(lambda: sum(t.count("\U0001f600") for t in chat.texts(sam)) == 5000)
    calls = [r for r in chat.sandbox.requests if r.method == "POST" and "/activities" in r.path]
    assert calls and all(r.status != 413 for r in calls)
    assert chat.sandbox.validation_errors == []
