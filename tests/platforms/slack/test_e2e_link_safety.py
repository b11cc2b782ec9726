"""``/pluto link`` typed in a Slack channel (issue 13, item 1): the sign-in address is shown
to the person alone (ephemeral), nothing lands in the channel, and the sign-in page names
the Slack account and workspace that will receive their Pluto messages."""

from __future__ import annotations

import aiohttp
import pytest

from sandbox.slack import SandboxSlack
from tests.support import until

from .e2e_support import LINK_URL, SAM, T1, SlackChat

pytestmark = pytest.mark.e2e


async def test_link_in_a_channel_is_ephemeral_and_the_page_names_the_account(
    chat: SlackChat, slack: SandboxSlack
) -> None:
    channel = slack.add_channel(T1, "C0GENERAL", "general")
    rid, result = await slack.post_slash_command(T1, SAM, "link", channel_id=channel.id)
    assert result.status == 200
    await until(lambda: slack.responses[rid], 30, "the answer to /pluto link")
    answers = slack.responses[rid]
    assert [a["response_type"] for a in answers] == ["ephemeral"]
    assert channel.messages == []  # nothing posted where the channel reads it
    url = LINK_URL.search(answers[0]["text"])
    assert url is not None
    async with aiohttp.ClientSession() as http, http.get(url.group(0)) as resp:
        page = await resp.text()
    assert "<dd>Slack</dd>" in page and "<dd>@sam</dd>" in page and "<dt>Workspace or server</dt><dd>one</dd>" in page
    assert "Anyone using this chat account will read your Pluto messages and can write as you." in page
