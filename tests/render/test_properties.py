"""Properties of every renderer and splitter, and of every inbound conversion, over generated
text (issue 14.6): no crash; no mention, broadcast or link the author did not write; no link
that disguises its target; every chunk within the platform's own measure of its limit; every
authored character present, in order (allowing the documented conversions).

CI runs 500 derandomized cases per property and platform; ``PLUTO_FUZZ_EXAMPLES=100000``
runs the full fuzz (see strategies.py).
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.console import ConsoleAdapter
from adapters.discord import DiscordAdapter, readable_content
from adapters.slack import SlackAdapter, to_plain_text
from adapters.teams import TeamsAdapter, typed_text
from adapters.telegram import TelegramAdapter
from bridge.model import Capabilities, Markup
from bridge.render import MIN_LIMIT, chat_text_to_lms, render, sanitize_lms_html

from ._wire import labelled_links, read, squash
from .strategies import FUZZ, FUZZ_LONG, Authored, authored_html, near_limit, typed_in_moodle, unicode_text

CAPS: dict[Markup, Capabilities] = {
    Markup.PLAIN: ConsoleAdapter.capabilities,
    Markup.TELEGRAM_HTML: TelegramAdapter.capabilities,
    Markup.SLACK_MRKDWN: SlackAdapter.capabilities,
    Markup.DISCORD_MARKDOWN: DiscordAdapter.capabilities,
    Markup.TEAMS_HTML: TeamsAdapter.capabilities,
}
# Look-alikes the renderers write on purpose (documented in each renderer's module).
_LOOK_ALIKES = str.maketrans({"\u02cb": "`", "\u2223": "|"})
_SURROGATE = re.compile("[\ud800-\udfff]")
_DOMAIN = re.compile(r"(?:[\w-]+\.)+[^\W\d_]{2,}")


def expected_text(authored: Authored) -> str:
    """What the reader must find, in order: the authored text after the documented
    conversions (lone surrogates as U+FFFD, NUL dropped by HTML parsing, a leading BOM,
    the renderers' look-alikes read as what they stand for on both sides)."""
    text = _SURROGATE.sub("\ufffd", authored.text).replace("\x00", "")
    if authored.html.startswith("\ufeff"):
        text = text.removeprefix("\ufeff")
    return squash(text.translate(_LOOK_ALIKES))


def in_order(needle: str, haystack: str) -> bool:
    """Whether every character of ``needle`` occurs in ``haystack`` in the same order."""
    it = iter(haystack)
    return all(ch in it for ch in needle)


def host_of(href: str) -> str:
    parts = urlsplit(href)
    if parts.scheme == "mailto":
        return parts.path.rpartition("@")[2].lower()
    return (parts.hostname or "").lower()


def check_outbound(markup: Markup, authored: Authored, limit: int) -> None:
    caps = CAPS[markup]
    chunks = render(sanitize_lms_html(authored.html), markup, limit, caps.measure)
    visible = []
    for chunk in chunks:
        assert chunk.strip(), "empty chunk"
        assert caps.measure(chunk) <= limit, f"chunk of {caps.measure(chunk)} over {limit}"
        text, actionable = read(markup, chunk)  # asserts well-formed markup
        for target in actionable:
            assert target in authored.hrefs, f"{target!r} was not written by the author"
        if markup is Markup.DISCORD_MARKDOWN:
            assert not re.search(r"@(everyone|here)", chunk, re.IGNORECASE), "live broadcast"
        for label, href, after in labelled_links(markup, chunk):
            host = host_of(href)
            # A scheme is not an address ("pluto.examplehttps://pluto.example" shows Pluto's).
            bare = re.sub(r"[^\W\d_][\w+.-]*://", " ", label)
            shown = [d for d in _DOMAIN.findall(bare) if not (host == d.lower() or host.endswith("." + d.lower()))]
            if shown and not any(d.lower().endswith("." + host) for d in shown):
                assert after.startswith(f" ({host})"), f"{label!r} disguises {href!r}"
        visible.append(text)
    assert in_order(expected_text(authored), squash("".join(visible).translate(_LOOK_ALIKES)))


PLATFORMS = [m for m in Markup]


@pytest.mark.parametrize("markup", PLATFORMS)
@FUZZ
@given(data=st.data())
def test_outbound_authored_html(markup: Markup, data: st.DataObject) -> None:
    authored = data.draw(st.one_of(authored_html(), typed_in_moodle()))
    limit = data.draw(st.sampled_from((MIN_LIMIT, 97, 300, CAPS[markup].max_text)))
    check_outbound(markup, authored, limit)


@pytest.mark.parametrize("markup", PLATFORMS)
@FUZZ_LONG
@given(data=st.data())
def test_outbound_around_the_limit(markup: Markup, data: st.DataObject) -> None:
    caps = CAPS[markup]
    check_outbound(markup, data.draw(near_limit(caps.max_text, caps.measure)), caps.max_text)


@FUZZ
@given(text=unicode_text())
def test_inbound_chat_text_to_lms(text: str) -> None:
    sent = chat_text_to_lms(text)
    sent.encode("utf-8")  # never a code point the LMS cannot take
    assert not [ch for ch in sent if ch not in "\n\t" and unicodedata.category(ch) in ("Cc", "Cs")]
    kept = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs"))
    assert in_order(squash(kept), squash(sent))


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def pieces_of(tokens: dict[str, str]) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Typed text and platform tokens, interleaved."""
    typed = unicode_text(4).map(lambda t: ("typed", t))
    return st.lists(st.one_of(typed, st.sampled_from(sorted(tokens)).map(lambda t: ("token", t))))


SLACK_TOKENS = {
    "<@U0ALEX>": "@Alex",
    "<#C1|general>": "#general",
    "<#C2>": "#random",
    "<!here>": "@here",
    "<!subteam^S1>": "@tutors",
    "<!subteam^S2|@staff>": "@staff",
    "<!date^1700000000^{date_short}>": "2023-11-14 22:13 UTC",
    "<https://pluto.example/q|the quiz>": "the quiz (https://pluto.example/q)",
}


async def _name(_: str) -> str:
    return "Alex"


async def _channel(_: str) -> str:
    return "random"


async def _group(_: str) -> str:
    return "tutors"


@FUZZ
@given(pieces=pieces_of(SLACK_TOKENS))
def test_inbound_slack_typed_stays_typed_and_tokens_become_names(pieces: list[tuple[str, str]]) -> None:
    wire = "".join(_slack_escape(t) if kind == "typed" else t for kind, t in pieces)
    want = "".join(t if kind == "typed" else SLACK_TOKENS[t] for kind, t in pieces)
    assert asyncio.run(to_plain_text(wire, _name, _channel, _group)) == want


DISCORD_TOKENS = {
    "<@111>": "@Ada",
    "<@!111>": "@Ada",
    "<@222>": "@user",
    "<@&333>": "@role",
    "<#444>": "#general",
    "</pluto tasks:1>": "/pluto tasks",
    "<:emo:1>": ":emo:",
    "<a:dance:2>": ":dance:",
    "<t:1700000000:R>": "2023-11-14 22:13 UTC",
}


@FUZZ
@given(pieces=pieces_of(DISCORD_TOKENS))
def test_inbound_discord_tokens_become_names(pieces: list[tuple[str, str]]) -> None:
    # What a person types in Discord is markdown: "\\" escapes and "<" opens a token, so the
    # typed pieces here have neither; escapes are covered by the adapter's own tests.
    pieces = [(k, t.replace("\\", "").replace("<", "") if k == "typed" else t) for k, t in pieces]
    content = "".join(t for _, t in pieces)
    want = "".join(t if kind == "typed" else DISCORD_TOKENS[t] for kind, t in pieces)
    assert readable_content(content, users={"111": "Ada"}, roles={}, channels={"444": "general"}) == want


@FUZZ
@given(text=unicode_text())
def test_inbound_teams_typed_text_is_kept_as_typed(text: str) -> None:
    bot = "<at>Pluto</at>"
    text = text.replace(bot, "")
    assert typed_text(text, "plain", {}) == text.strip()
    assert typed_text(f"{bot} {text}", "plain", {bot: ""}) == text.strip()
    assert typed_text(f"<at>CEO</at> {text}", "plain", {bot: ""}) == f"<at>CEO</at> {text}".strip()
