"""Two real ``pluto-bridge run`` replicas on one PostgreSQL behind a load balancer that
sends each request where it likes (issue 20): Slack's HTTP events reach either one, an
event redelivered to the other replica is handled once (the inbound journal's unique key),
a sign-in page opened on the other replica works (the link code is in the store), and an
LMS message reaches the chat once, whichever replica reads and sends it."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from tests.chaos.test_replicas import postgres_url
from tests.e2e.harness import BridgeProcess, sign_in
from tests.platforms.slack.e2e_support import LINK_URL, SAM, T1, SlackChat, new_sandbox, shown, slack_config
from tests.support import lms_texts, until

__all__ = ["postgres_url"]  # the fixture: a fresh PostgreSQL database (skips without one)
pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


async def test_webhooks_and_sign_in_work_on_any_replica_and_events_count_once(
    lms: SandboxLMS, seed: DemoSeed, tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLUTO_BRIDGE_STORE__URL", postgres_url)  # both replicas on one database
    slack = new_sandbox()
    await slack.start()
    configs = []
    for n in range(2):
        (tmp_path / f"r{n}").mkdir()
        configs.append(slack_config(tmp_path / f"r{n}", lms.url, slack, "http"))
    first = await SlackChat.start(slack, *configs[0], "http")
    second = await BridgeProcess(configs[1][0]).start()
    try:
        await second.ready(configs[1][1])
        other = f"http://127.0.0.1:{configs[1][1]}/slack/events"

        # Sign in on the other replica's page with the code the first one gave.
        answers = await first.command(T1, SAM, "link")
        match = LINK_URL.search(" ".join(str(a.get("text")) for a in answers))
        assert match is not None, answers
        url = match.group(0).replace(f":{configs[0][1]}/", f":{configs[1][1]}/")
        async with aiohttp.ClientSession() as http:
            async with http.post(url, data=sign_in("mentee1")) as resp:
                assert resp.status == 200, await resp.text()
        await first.wait_message(T1, SAM, "Linked to Pluto as")

        lms.post_message(seed.mentor_id, seed.mentee1_id, "hello from the mentor")
        await first.wait_message(T1, SAM, "hello from the mentor")
        conversation = lms.conversation_between(seed.mentor_id, seed.mentee1_id)

        # Sam answers; Slack's retry of the same event reaches the other replica.
        event = slack.user_message(T1, SAM, "one answer, delivered twice")
        event_id, result = await slack.sign_and_post_event(T1, event)
        assert result.status == 200, result.body
        slack.bridge_url = other
        _, again = await slack.sign_and_post_event(T1, event, event_id=event_id, retry_num=1)
        assert again.status == 200, again.body
        # A new event on the other replica goes through too (it is not the first one's alone).
        later = slack.user_message(T1, SAM, "and one more, on the other replica")
        assert (await slack.sign_and_post_event(T1, later))[1].status == 200
        await until(
            lambda: "and one more, on the other replica" in lms_texts(lms, conversation, seed.mentee1_id),
            what="the second answer in Pluto",
        )
        stored = lms_texts(lms, conversation, seed.mentee1_id)
        assert stored.count("one answer, delivered twice") == 1, stored

        for n in range(5):
            lms.post_message(seed.mentor_id, seed.mentee1_id, f"mentor again {n}")
        await first.wait_message(T1, SAM, "mentor again 4")
        seen = [shown(m) for m in first.dm(T1, SAM) if m.get("bot_id")]
        copies = [sum(f"mentor again {n}" in s for s in seen) for n in range(5)]
        assert copies == [1] * 5, seen  # each once, whichever replica read and sent it
    finally:
        await second.stop()
        await first.stop()
        await slack.stop()
