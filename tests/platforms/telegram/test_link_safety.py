"""The sign-in page says whose chat account gets the Pluto messages and asks the person to
confirm it; a new link is announced everywhere the person already is; ``link list`` tells
when and from where each link was made (issue 13, item 1)."""

from __future__ import annotations

import re

import aiohttp

from tests.e2e.harness import sign_in
from tests.platforms.telegram.conftest import ALEX, SAM
from tests.platforms.telegram.world import _SIGN_IN_URL, PASSWORD, TelegramWorld
from tests.support import cli

RISK = "Anyone using this chat account will read your Pluto messages and can write as you."


async def _sign_in_url(w: TelegramWorld, user: int) -> str:
    before = len(w.texts(user))
    w.tg.user_sends_text(user, "/link")
    await w.wait(lambda: any(_SIGN_IN_URL.search(t) for t in w.texts(user)[before:]), "the sign-in URL")
    return next(m.group(0) for t in w.texts(user)[before:] if (m := _SIGN_IN_URL.search(t)))


async def test_the_sign_in_page_shows_the_chat_account_and_needs_a_confirmation(polling_world: TelegramWorld) -> None:
    w = polling_world
    url = await _sign_in_url(w, ALEX)
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as resp:
            page = await resp.text()
        assert "Telegram" in page and "Alex Mentee" in page and "@alex_mentee" in page
        assert RISK in page
        assert re.search(r'<input id="c" name="confirm" type="checkbox" value="yes" required>', page)
        async with http.post(url, data={"username": "mentee1", "password": PASSWORD}) as resp:
            refused = await resp.text()
            assert resp.status == 400
        assert "confirm that the chat account shown is yours" in refused
        assert "Alex Mentee" in refused  # the account is still shown with the error
        async with http.post(url, data=sign_in("mentee1", PASSWORD)) as resp:
            assert resp.status == 200, await resp.text()
    await w.see(ALEX, "Linked to Pluto as")


async def test_a_new_link_is_announced_in_the_other_chats_and_in_pluto(polling_world: TelegramWorld) -> None:
    w = polling_world
    await w.link_by_command(SAM, "mentee1")
    lms = w.lms
    await w.link_by_command(ALEX, "mentee1")  # somebody links another chat account to mentee1
    shown = await w.see(SAM, "Your Pluto account was linked to Telegram @alex_mentee (Alex Mentee) at ")
    assert "unlink all" in shown[0] and "Security keys" in shown[0]
    assert not w.shown(ALEX, "Your Pluto account was linked to")  # the new chat itself gets the usual confirmation
    userid = next(u.id for u in lms.state.users.values() if u.username == "mentee1")
    self_conversation = lms.conversation_between(userid, userid)
    assert self_conversation is not None
    texts = [m["text"] for m in lms.messages_in(self_conversation)]
    assert any("your Pluto account was linked to Telegram @alex_mentee (Alex Mentee)" in t for t in texts), texts


async def test_unlink_all_from_the_other_chat_removes_the_new_link(polling_world: TelegramWorld) -> None:
    w = polling_world
    await w.link_by_command(SAM, "mentee1")
    await w.link_by_command(ALEX, "mentee1")
    await w.see(SAM, "Your Pluto account was linked to")
    w.tg.user_sends_text(SAM, "/unlink all")
    answer = await w.see(SAM, "Unlinked every chat from your Pluto account")
    assert "telegram:222" in answer[0] and "Security keys" in answer[0]
    w.tg.user_sends_text(ALEX, "/status")
    await w.see(ALEX, "connect your Pluto account")


async def test_link_list_shows_when_and_from_where_each_link_was_made(polling_world: TelegramWorld) -> None:
    w = polling_world
    await w.link_by_command(SAM, "mentee1")
    await w.link_by_deep_link(ALEX, "mentee2")
    code, out, err = await cli("link", "list", "--config", str(w.config))
    assert code == 0, err
    sam = next(line for line in out.splitlines() if line.startswith("telegram:111"))
    alex = next(line for line in out.splitlines() if line.startswith("telegram:222"))
    assert re.search(r"linked \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC by sign-in page from 127\.0\.0\.1", sam), sam
    assert "by web sign-in from 127.0.0.1, code sent in chat" in alex, alex
