"""Splitting: order, limits, boundaries, well-formed chunks, whole characters."""

from __future__ import annotations

import random
import unicodedata

import pytest

from bridge.model import Markup
from bridge.render import MIN_LIMIT, escape, render, sanitize_lms_html, to_plain
from bridge.render.measure import json_bytes

from ._wire import TELEGRAM_TAGS, read, read_html, squash

ALL = list(Markup)


def para(*lines: str) -> str:
    return "<p>" + "<br>".join(escape(line) for line in lines) + "</p>"


def test_paragraph_boundary_beats_filling_the_chunk() -> None:
    p1 = "Alpha one. Alpha two is here."  # 29
    p2 = "Beta one. Beta two. Beta three goes on for a while."  # 51
    p3 = "Gamma."
    chunks = render(para(p1) + para(p2) + para(p3), Markup.PLAIN, 70)
    assert chunks == [p1, f"{p2}\n\n{p3}"]


def test_line_boundary_beats_sentence() -> None:
    l1 = "First line. It has two sentences."  # 33
    l2 = "Second line keeps going. And going on and on."  # 45
    assert render(para(l1, l2), Markup.PLAIN, 70) == [l1, l2]


def test_sentence_boundary_beats_word() -> None:
    text = "Short one. " + "word " * 20 + "end."
    chunks = render(para(text), Markup.PLAIN, 70)
    assert chunks[0] == "Short one."
    assert all(len(c) <= 70 for c in chunks)
    assert " ".join(chunks) == text


def test_word_boundary_beats_hard_cut() -> None:
    words = [f"w{i:03d}xyz" for i in range(40)]
    chunks = render(para(" ".join(words)), Markup.PLAIN, 64)
    assert all(len(c) <= 64 for c in chunks)
    assert [w for c in chunks for w in c.split(" ")] == words  # no word cut in two


@pytest.mark.parametrize("markup", ALL)
def test_single_huge_word_hard_cut(markup: Markup) -> None:
    word = "".join(random.Random(7).choice("abcdefghij") for _ in range(10_000))
    chunks = render(para(word), markup, 4096)
    assert len(chunks) == 3
    assert all(0 < len(c) <= 4096 for c in chunks)
    assert "".join(read(markup, c)[0].strip() for c in chunks) == word


@pytest.mark.parametrize("markup", ALL)
def test_order_kept_and_limit_held(markup: Markup) -> None:
    paragraphs = [
        f"Paragraph {i}: " + " ".join(f"<b>w{i}.{j}</b> &amp;" for j in range(i % 9)) for i in range(60)
    ]
    safe = "".join(f"<p>{p}</p>" for p in paragraphs)
    chunks = render(safe, markup, 200)
    assert all(0 < len(c) <= 200 for c in chunks)
    visible = "".join(read(markup, c)[0] for c in chunks)
    positions = [visible.index(f"Paragraph {i}:") for i in range(60)]
    assert positions == sorted(positions)


def test_telegram_chunks_balanced_and_styles_reopened() -> None:
    safe = (
        "<p><b>Bold <i>italic " + "and more words " * 30 + "</i> done</b></p>"
        '<blockquote><p>quoted <a href="https://a.example/?x=1&amp;y=2">link '
        + "text " * 40
        + "</a></p></blockquote>"
    )
    chunks = render(safe, Markup.TELEGRAM_HTML, 100)
    assert len(chunks) > 4
    for chunk in chunks:
        assert len(chunk) <= 100
        read_html(chunk, TELEGRAM_TAGS)  # raises on unbalanced or unknown tags
    assert chunks[1].startswith("<b><i>")
    assert all(c.startswith('<blockquote><a href="https://a.example/?x=1&amp;y=2">') for c in chunks[-3:])


@pytest.mark.parametrize(
    ("markup", "start", "end"),
    [
        (Markup.TELEGRAM_HTML, "<pre>", "</pre>"),
        (Markup.TEAMS_HTML, "<pre>", "</pre>"),
        (Markup.SLACK_MRKDWN, "```\n", "\n```"),
        (Markup.DISCORD_MARKDOWN, "```\n", "\n```"),
    ],
)
def test_pre_block_reopened_in_every_chunk(markup: Markup, start: str, end: str) -> None:
    rows = [f"    line {i} = value_{i} * 2;" for i in range(40)]
    chunks = render("<pre>" + escape("\n".join(rows)).replace("<br>", "\n") + "</pre>", markup, 300)
    assert len(chunks) > 3
    got: list[str] = []
    for chunk in chunks:
        assert len(chunk) <= 300
        assert chunk.startswith(start) and chunk.endswith(end)
        got.extend(chunk[len(start) : -len(end)].split("\n"))
    if markup is Markup.SLACK_MRKDWN:
        got = [g.replace("\u02cb", "`") for g in got]
    assert got == rows  # indentation kept, cut only between lines


def _perceived_ok(text: str) -> bool:
    """Chunk edges never leave a mark, joiner or modifier without its base."""
    first, last = text[0], text[-1]
    if unicodedata.category(first) in ("Mn", "Me", "Mc") or first in "\u200d\ufe0f":
        return False
    if "\U0001f3fb" <= first <= "\U0001f3ff":
        return False
    return last != "\u200d"


@pytest.mark.parametrize("markup", ALL)
def test_grapheme_clusters_not_broken(markup: Markup) -> None:
    clusters = ["e\u0301", "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f1eb\U0001f1f7",
                "\U0001f44d\U0001f3fd", "\u0915\u094d\u0937", "\u2764\ufe0f"]  # fmt: skip
    rng = random.Random(3)
    word = "".join(rng.choice(clusters) for _ in range(400))
    chunks = render(para(word), markup, 97)
    assert len(chunks) > 10
    pieces = [read(markup, c)[0].strip() for c in chunks]
    assert "".join(pieces) == word
    for piece in pieces:
        assert _perceived_ok(piece), ascii(piece[:3] + piece[-3:])
        flags = sum(1 for ch in piece if "\U0001f1e6" <= ch <= "\U0001f1ff")
        assert flags % 2 == 0


def test_limit_below_minimum_rejected() -> None:
    with pytest.raises(ValueError):
        render("<p>x</p>", Markup.PLAIN, MIN_LIMIT - 1)


@pytest.mark.parametrize("markup", ALL)
def test_empty_and_blank_input(markup: Markup) -> None:
    assert render("", markup, 100) == []
    assert render("<p> \n </p><br><ul><li> </li></ul>", markup, 100) == []
    assert render("x", markup, 100) != []


@pytest.mark.parametrize("markup", ALL)
def test_link_target_longer_than_limit_still_fits(markup: Markup) -> None:
    url = "https://a.example/" + "p" * 300
    chunks = render(f'<p><a href="{url}">the label here</a></p>', markup, 100)
    assert chunks and all(len(c) <= 100 for c in chunks)
    assert squash("".join(read(markup, c)[0] for c in chunks)).startswith("thelabelhere")


# -- property-style: many generated documents ---------------------------------------------

WORDS = ["alpha", "beta", "<b>", "x&y", "**", "_u_", "@everyone", "<@U1>", "é\u0301", "👍🏽",
         "long" * 9, "end.", "why?", "`t`", "[l](u)", "#", "-", "1.", "|", ">"]  # fmt: skip


def _words(rng: random.Random, n: int) -> str:
    return " ".join(escape(rng.choice(WORDS)) for _ in range(n))


def _inline(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(1, 6)):
        kind = rng.random()
        if kind < 0.5:
            parts.append(_words(rng, rng.randint(1, 30)))
        elif kind < 0.65:
            parts.append(f"<b>{_words(rng, rng.randint(1, 8))}</b>")
        elif kind < 0.75:
            parts.append(f"<i><s>{_words(rng, rng.randint(1, 8))}</s></i>")
        elif kind < 0.85:
            parts.append(f"<code>{_words(rng, rng.randint(1, 3))}</code>")
        elif kind < 0.95:
            parts.append(f'<a href="https://l.example/{rng.randint(0, 99)}">lnk{rng.randint(0, 9)}</a>')
        else:
            parts.append("<br>")
    return " ".join(parts)


def _document(rng: random.Random) -> str:
    blocks = []
    for _ in range(rng.randint(1, 12)):
        kind = rng.random()
        if kind < 0.6:
            blocks.append(f"<p>{_inline(rng)}</p>")
        elif kind < 0.75:
            items = "".join(f"<li>{_inline(rng)}</li>" for _ in range(rng.randint(1, 4)))
            blocks.append(f"<{rng.choice(['ul', 'ol'])}>{items}</ul>")
        elif kind < 0.87:
            blocks.append(f"<blockquote><p>{_inline(rng)}</p></blockquote>")
        else:
            rows = [_words(rng, rng.randint(0, 12)) for _ in range(rng.randint(1, 8))]
            blocks.append("<pre>" + "\n".join(rows) + "</pre>")
    return "".join(blocks)


def _visible(markup: Markup, text: str) -> str:
    visible = squash(read(markup, text)[0])
    # A quoted line cut in two is quoted in both chunks; in plain text the "> " marker
    # cannot be told from a typed ">", so compare without that character.
    return visible.replace(">", "") if markup is Markup.PLAIN else visible


@pytest.mark.parametrize("markup", ALL)
def test_generated_documents_keep_invariants(markup: Markup) -> None:
    rng = random.Random(20261123)
    for _ in range(150):
        safe = _document(rng)
        whole = render(safe, markup, 1_000_000)
        assert len(whole) <= 1
        expected = _visible(markup, whole[0]) if whole else ""
        if markup is Markup.PLAIN:
            assert whole == ([to_plain(safe)] if to_plain(safe).strip() else [])
        for limit in (MIN_LIMIT, 101, 333, 2000):
            chunks = render(safe, markup, limit)
            assert (chunks == []) == (expected == ""), safe
            for chunk in chunks:
                assert 0 < len(chunk) <= limit, (limit, chunk)
                assert chunk.strip()
            got = "".join(_visible(markup, c) for c in chunks)  # also checks HTML balance
            assert got == expected, (limit, safe)


def test_each_platform_is_measured_its_own_way() -> None:
    # Issue 14.2: limits counted as the platform counts, on the measure the adapter declares.
    from adapters.discord import DiscordAdapter
    from adapters.slack import SlackAdapter
    from adapters.teams import TeamsAdapter
    from adapters.telegram import TelegramAdapter
    from bridge.render.measure import json_bytes, telegram_length

    emoji = "\U0001f600" * 3000
    teams = TeamsAdapter.capabilities
    chunks = render(para(emoji), teams.markup, teams.max_text, teams.measure)
    assert all(json_bytes(c) <= teams.max_text for c in chunks) and "".join(chunks).count("\U0001f600") == 3000
    assert len(chunks) == 2  # 36 KB of escaped JSON: over one activity, under two
    telegram = TelegramAdapter.capabilities
    # 3000 emoji are 3000 characters but 6000 UTF-16 units: two messages, not one.
    tg_chunks = render(para(emoji), telegram.markup, telegram.max_text, telegram.measure)
    assert len(tg_chunks) == 2 and all(telegram_length(c) <= 4096 for c in tg_chunks)
    # Entities count as the character they stand for: "&amp;" is one.
    amps = render(para("&" * 4000), telegram.markup, telegram.max_text, telegram.measure)
    assert len(amps) == 1 and telegram_length(amps[0]) == 4000
    for caps in (DiscordAdapter.capabilities, SlackAdapter.capabilities):
        assert caps.measure("\U0001f600") == 1  # characters of the text


def test_a_character_that_fits_only_without_its_quote_and_list_keeps_its_text() -> None:
    # Found by the 100,000-case Teams fuzz (issue 14): at the least limit, one astral
    # character (12 escaped JSON bytes) in a quoted nested list item could not fit beside
    # its decoration, and rendering raised instead of delivering the text.
    html = sanitize_lms_html("<li></li><blockquote><li></li>\U00010000</blockquote>")
    chunks = render(html, Markup.TEAMS_HTML, MIN_LIMIT, json_bytes)
    assert "\U00010000" in "".join(chunks)
    assert all(json_bytes(chunk) <= MIN_LIMIT for chunk in chunks)


def test_an_item_that_fits_whole_is_one_chunk() -> None:
    """Two quoted paragraphs share one blockquote in Teams: rendered whole they fit a limit
    that the blocks measured one by one (each with its own blockquote) would exceed."""
    html = "<blockquote><p>" + "a" * 300 + "</p><p>" + "b" * 300 + "</p></blockquote>"
    (whole,) = render(html, Markup.TEAMS_HTML, 100_000)
    assert render(html, Markup.TEAMS_HTML, len(whole)) == [whole]
