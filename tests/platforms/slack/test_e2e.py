"""End to end over Slack: the real bridge process (only Slack enabled) against the sandbox
LMS and the sandbox Slack at its real limits. Here in HTTP mode (the sandbox POSTs signed
requests to the bridge's own web server); test_e2e_socket.py runs the same scenarios in
Socket Mode. Assertions are on what people see in Slack (the sandbox's records) and on
what the LMS stores."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.slack import SandboxSlack
from tests.lms_side import unread_notification_ids
from tests.support import lms_texts, until

from .e2e_support import ALEX, KIM, LINK_URL, SAM, T1, T2, TOKENS, SlackChat, shown, slack_config

pytestmark = pytest.mark.e2e


async def test_linking_through_the_slash_command_and_sign_in_page(chat: SlackChat, slack: SandboxSlack) -> None:
    await chat.say(T1, SAM, "hello?")  # not linked yet: told how, privately
    await until(lambda: slack.ephemerals, what="an ephemeral hint")
    ((hint, to),) = [(e["text"], e["user"]) for e in slack.ephemerals]
    assert "connect your Pluto account: send `/pluto link`" in hint and to == SAM
    answers = await chat.command(T1, SAM, "link")
    # the sign-in URL is shown only to Sam, never posted into the DM for others to read
    assert [a["response_type"] for a in answers] == ["ephemeral"]
    url = LINK_URL.search(answers[0]["text"])
    assert url is not None and f"<{url.group(0)}|" in answers[0]["text"]  # a clickable link
    assert all(m["user"] == SAM for m in slack.dm(T1, SAM).messages)  # nothing from the bot in the DM
    linked = await chat.link(T1, SAM, "mentee1")
    assert "Linked to Pluto as *Sam Mentee* (mentee1)" in shown(linked)
    (post,) = slack.api_calls("chat.postMessage")
    assert post.headers["Authorization"] == f"Bearer {TOKENS[T1]}"
    status = await chat.command(T1, SAM, "status")
    assert "Linked to Pluto as *Sam Mentee*" in status[0]["text"]


async def test_both_directions_with_a_thread_per_conversation(
    chat: SlackChat, slack: SandboxSlack, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await chat.link(T1, SAM, "mentee1")
    sent = lms.post_message(seed.mentor_id, seed.mentee1_id, "Hello Sam, how is module 1 going?")
    conversation = sent["conversationid"]
    root = await chat.wait_message(T1, SAM, "how is module 1 going")
    # who wrote it shows on top; the conversation's first message starts its thread
    assert shown(root) == "*Maya Mentor*\n\nHello Sam, how is module 1 going?"
    assert "thread_ts" not in root
    lms.post_message(seed.mentor_id, seed.mentee1_id, "Any questions so far?")
    follow_up = await chat.wait_message(T1, SAM, "Any questions so far?")
    assert follow_up["thread_ts"] == root["ts"]

    await chat.say(T1, SAM, "Going well, thanks!")  # outside threads: the current conversation
    await until(
        lambda: lms_texts(lms, conversation, seed.mentee1_id) == ["Going well, thanks!"],
        what="top-level reply",
    )
    await chat.say(T1, SAM, "One question: is the quiz open-book?", thread_ts=root["ts"])
    await until(
        lambda: lms_texts(lms, conversation, seed.mentee1_id)[-1:] == ["One question: is the quiz open-book?"],
        what="thread reply",
    )
    # Slack echoes the bot's own posts back as DM events: they are not relayed back into the LMS
    await slack.sign_and_post_event(T1, slack.bot_echo(T1, slack.dm(T1, SAM).id, root["ts"]))
    await chat.say(T1, SAM, "marker")
    await until(lambda: lms_texts(lms, conversation, seed.mentee1_id)[-1:] == ["marker"], what="the marker")
    # (quick lines in order, replies by thread with two conversations: tests/contract/)
    mentor, mine = lms_texts(lms, conversation, seed.mentor_id), lms_texts(lms, conversation, seed.mentee1_id)
    assert mentor == ["Hello Sam, how is module 1 going?", "Any questions so far?"]
    assert mine == ["Going well, thanks!", "One question: is the quiz open-book?", "marker"]


HOSTILE = "<b>x</b> & <!channel> <@U1> @everyone <at>Boss</at> **bold** <https://evil|click>"


async def test_hostile_lms_text_arrives_inert_on_the_wire(
    chat: SlackChat, slack: SandboxSlack, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await chat.link(T1, SAM, "mentee1")
    lms.post_message(seed.mentor_id, seed.mentee1_id, HOSTILE)
    await chat.wait_message(T1, SAM, "Boss")
    (call,) = [c for c in slack.api_calls("chat.postMessage") if "Boss" in str(c.params)]
    section = call.params["blocks"][0]["text"]["text"]
    for field in (call.params["text"], section):
        # every special sequence needs a real "<": none survives, so nothing pings or links
        assert "<" not in field and ">" not in field, field
        assert "&lt;!channel&gt;" in field and "&lt;@U1&gt;" in field and "&lt;https://evil|click&gt;" in field
    assert "**bold**" not in section  # formatting characters are shown, not applied
    # and Sam reads exactly what the mentor typed
    drawn = section.replace("\u200b", "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert drawn == f"*Maya Mentor*\n\n{HOSTILE}"


async def test_injection_typed_in_slack_lands_in_the_lms_as_plain_text(
    chat: SlackChat, slack: SandboxSlack, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await chat.link(T1, SAM, "mentee1")
    conversation = lms.post_message(seed.mentor_id, seed.mentee1_id, "Say something")["conversationid"]
    await chat.wait_message(T1, SAM, "Say something")
    typed = "<!channel> <@U1> <https://evil|click> & <b>x</b> **bold** &amp;"
    await chat.say(T1, SAM, typed)  # Slack escapes & < > of typed text on the wire
    await until(lambda: lms_texts(lms, conversation, seed.mentee1_id) == [typed], what="the typed text in the LMS")
    # real mentions and links (not typed text) become readable plain text
    await chat.say(T1, SAM, "ask <@U0ALEX> about <https://pluto.example/q|the quiz>", typed=False)
    await until(
        lambda: (
            lms_texts(lms, conversation, seed.mentee1_id)[-1:]
            == ["ask @Alex Mentee about the quiz (https://pluto.example/q)"]
        ),
        what="the resolved mention",
    )
    assert {m["textformat"] for m in lms.messages_in(conversation) if m["useridfrom"] == seed.mentee1_id} == {2}


async def test_redelivered_event_reaches_the_lms_once(
    chat: SlackChat, slack: SandboxSlack, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await chat.link(T1, SAM, "mentee1")
    conversation = lms.post_message(seed.mentor_id, seed.mentee1_id, "Please confirm")["conversationid"]
    await chat.wait_message(T1, SAM, "Please confirm")
    event = slack.user_message(T1, SAM, "Confirmed")
    event_id, first = await slack.sign_and_post_event(T1, event)
    await until(lambda: lms_texts(lms, conversation, seed.mentee1_id) == ["Confirmed"], what="the first delivery")
    for attempt in (1, 2):  # Slack redelivers the same event when it thinks the ack was late
        _, again = await slack.sign_and_post_event(T1, event, event_id=event_id, retry_num=attempt)
        assert again.status == 200
    await chat.say(T1, SAM, "marker")  # processed after the redeliveries were acknowledged
    await until(lambda: lms_texts(lms, conversation, seed.mentee1_id)[-1:] == ["marker"], what="the marker")
    assert lms_texts(lms, conversation, seed.mentee1_id) == ["Confirmed", "marker"]
    assert first.status == 200


async def test_forged_and_stale_signatures_are_refused_by_the_bridge(
    chat: SlackChat, slack: SandboxSlack, lms: SandboxLMS, seed: DemoSeed
) -> None:
    assert slack.bridge_url == f"http://127.0.0.1:{chat.web_port}/slack/events"
    await chat.link(T1, SAM, "mentee1")
    conversation = lms.post_message(seed.mentor_id, seed.mentee1_id, "Anyone there?")["conversationid"]
    await chat.wait_message(T1, SAM, "Anyone there?")
    _, forged = await slack.sign_and_post_event(T1, slack.user_message(T1, SAM, "forged"), bad_signature=True)
    _, stale = await slack.sign_and_post_event(T1, slack.user_message(T1, SAM, "stale"), stale=True)
    rid, forged_command = await slack.post_slash_command(T1, SAM, "unlink", bad_signature=True)
    assert (forged.status, stale.status, forged_command.status) == (401, 401, 401)
    # the same endpoint takes a correctly signed request
    assert (await slack.url_verification("c-123")).json() == {"challenge": "c-123"}
    await chat.say(T1, SAM, "genuine")
    await until(lambda: lms_texts(lms, conversation, seed.mentee1_id) == ["genuine"], what="the signed message")
    assert slack.responses[rid] == []
    status = await chat.command(T1, SAM, "status")  # the forged unlink did nothing
    assert "Linked to Pluto as" in status[0]["text"]


async def test_button_press_marks_an_alert_read_and_retires_the_buttons(
    chat: SlackChat, slack: SandboxSlack, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await chat.link(T1, SAM, "mentee1")
    assignment = f"{lms.url}/mod/assign/view.php?id=5"
    alert = lms.notify(
        seed.mentee1_id, subject="Essay 1 is due tomorrow", text="Submit by 17:00",
        component="mod_assign", eventtype="assign_notification", contexturl=assignment,
    )  # fmt: skip
    message = await chat.wait_message(T1, SAM, "Essay 1 is due tomorrow")
    (actions,) = [b for b in message["blocks"] if b["type"] == "actions"]
    buttons = {b["text"]["text"]: b for b in actions["elements"]}
    assert set(buttons) == {"Mark read", "Open in Pluto"}
    assert buttons["Open in Pluto"]["url"] == assignment and buttons["Mark read"]["style"] == "primary"
    assert alert in await unread_notification_ids(lms, seed.mentee1_id)

    rid, pressed = await slack.post_block_action(
        T1, SAM, slack.dm(T1, SAM).id, message["ts"], buttons["Mark read"]["action_id"]
    )
    assert pressed.status == 200
    await until(lambda: len(slack.responses[rid]) >= 2, what="the answer to the press")
    # the pressed message now shows the outcome in place, its buttons gone
    updated = slack.channel(slack.dm(T1, SAM).id).find(message["ts"])
    assert updated is not None and "Marked read by Sam Mentee in Slack" in shown(updated)
    assert all(b["type"] == "section" for b in updated["blocks"])
    done = [r for r in slack.responses[rid] if r.get("response_type") == "ephemeral"]
    assert len(done) == 1 and "Done: Marked read by Sam Mentee in Slack" in done[0]["text"]
    assert alert not in await unread_notification_ids(lms, seed.mentee1_id)
    # the copy is kept true by chat.update too, with the workspace's own token
    await until(lambda: slack.api_calls("chat.update"), what="the copy's update")
    assert {c.headers["Authorization"] for c in slack.api_calls("chat.update")} == {f"Bearer {TOKENS[T1]}"}


async def test_two_workspaces_at_once(chat: SlackChat, slack: SandboxSlack, lms: SandboxLMS, seed: DemoSeed) -> None:
    await chat.link(T1, SAM, "mentee1")
    await chat.link(T2, KIM, "mentee2")
    to_sam = lms.post_message(seed.mentor_id, seed.mentee1_id, "Hi Sam, from Maya")["conversationid"]
    to_kim = lms.post_message(seed.mentor_id, seed.mentee2_id, "Hi Alex, from Maya")["conversationid"]
    await chat.wait_message(T1, SAM, "Hi Sam, from Maya")
    await chat.wait_message(T2, KIM, "Hi Alex, from Maya")
    tokens = {c.params["channel"]: c.headers["Authorization"] for c in slack.api_calls("chat.postMessage")}
    assert tokens == {
        slack.dm(T1, SAM).id: f"Bearer {TOKENS[T1]}",
        slack.dm(T2, KIM).id: f"Bearer {TOKENS[T2]}",
    }
    assert not any("Alex" in t for t in chat.seen(T1, SAM)) and not any("Sam" in t for t in chat.seen(T2, KIM))
    await chat.say(T2, KIM, "Hello from the other workspace")
    await chat.say(T1, SAM, "Hello from workspace one")
    await until(lambda: lms_texts(lms, to_kim, seed.mentee2_id) == ["Hello from the other workspace"], what="Kim")
    await until(lambda: lms_texts(lms, to_sam, seed.mentee1_id) == ["Hello from workspace one"], what="Sam")
    assert ALEX not in {c.params.get("users") for c in slack.api_calls("conversations.open")}


@pytest.mark.parametrize("operator_token", [True, False])
async def test_sign_in_page_suggests_the_pluto_account_with_the_slack_email(
    slack_mode: str, slack: SandboxSlack, lms: SandboxLMS, seed: DemoSeed, tmp_path: Path, operator_token: bool
) -> None:
    # Sam's Slack profile carries the address of the Pluto account mentee1 (the seed's).
    slack.add_user(T1, "U0SAME", "same", real_name="Sam Mentee", email="mentee1@example.com")
    config, port = slack_config(tmp_path, lms.url, slack, slack_mode)
    if operator_token:  # the lookup needs the operator's token; without it, no suggestion
        text = config.read_text().replace("[lms]\n", f'[lms]\ntoken = "{lms.admin_token}"\n', 1)
        config.write_text(text)
    chat = await SlackChat.start(slack, config, port, slack_mode)
    try:
        answers = await chat.command(T1, "U0SAME", "link")
        url = LINK_URL.search(answers[0]["text"])
        assert url is not None
        async with aiohttp.ClientSession() as http, http.get(url.group(0)) as resp:
            page = await resp.text()
        assert resp.status == 200
        assert ('value="mentee1"' in page) is operator_token
        # A suggestion only: nothing is linked until the person signs in.
        assert not any("Linked to Pluto" in shown(m) for m in chat.dm(T1, "U0SAME"))
    finally:
        await chat.stop()
