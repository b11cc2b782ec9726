"""Commands typed in a Telegram group are answered in the person's private chat: a sign-in
address posted in a group could be opened by any member, who would then sign the asker's
chat account into the member's Pluto account (issue 13, item 1). The group itself sees
nothing of it, unless the person cannot be reached privately (issue 16)."""

from __future__ import annotations

import aiohttp

from tests.platforms.telegram.conftest import ALEX, GROUP, SAM
from tests.platforms.telegram.world import _SIGN_IN_URL, TelegramWorld


async def test_link_in_a_group_sends_the_sign_in_address_privately(polling_world: TelegramWorld) -> None:
    w = polling_world
    w.tg.user_starts(SAM)
    await w.see(SAM, "connect your Pluto account")
    w.tg.user_sends_in_group(SAM, GROUP, "/link")
    await w.see(SAM, "/link/")
    assert w.texts(GROUP) == []  # a group is a room: nothing of a command shows there (issue 16)
    assert any(_SIGN_IN_URL.search(t) for t in w.texts(SAM))


async def test_link_in_a_group_without_a_private_chat_posts_no_address(polling_world: TelegramWorld) -> None:
    w = polling_world
    w.tg.user_sends_in_group(ALEX, GROUP, "/link")
    shown = await w.see(GROUP, "private chat")
    assert "/link" in shown[0]
    assert not any(_SIGN_IN_URL.search(t) for t in w.texts(GROUP))
    assert w.texts(ALEX) == []


async def test_a_code_shown_in_a_group_is_burnt(polling_world: TelegramWorld) -> None:
    w = polling_world
    w.tg.user_starts(SAM)
    await w.see(SAM, "connect your Pluto account")
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"http://127.0.0.1:{w.port}/link", data={"username": "mentee1", "password": "Passw0rd!"}
        ) as resp:
            page = await resp.text()
    code = page.split("<code>link ", 1)[1].split("<", 1)[0]
    w.tg.user_sends_in_group(SAM, GROUP, f"/link {code}")
    await w.see(SAM, "no longer works")
    w.tg.user_sends_text(ALEX, f"/link {code}")
    await w.see(ALEX, "expired or was already used")
