"""The sign-in page names the Discord account that will receive the person's Pluto
messages, with its picture (issue 13, item 1)."""

from __future__ import annotations

import aiohttp
import pytest

from tests.platforms.discord.conftest import SAM
from tests.platforms.discord.world import SIGN_IN_URL, DiscordWorld

pytestmark = pytest.mark.e2e


async def test_the_sign_in_page_shows_the_discord_account_and_its_picture(world: DiscordWorld) -> None:
    interaction = await world.dc.user_slash(SAM, "link")
    await world.wait(
        lambda: any(SIGN_IN_URL.search(m["content"]) for m in world.followups(interaction)), "the sign-in URL"
    )
    match = next(m for f in world.followups(interaction) if (m := SIGN_IN_URL.search(f["content"])))
    async with aiohttp.ClientSession() as http, http.get(match.group(1)) as resp:
        page = await resp.text()
        policy = resp.headers["Content-Security-Policy"]
    assert "<dd>Discord</dd>" in page and "<dd>Sam</dd>" in page
    assert '<img src="https://cdn.discordapp.com/' in page and "img-src https:" in policy
