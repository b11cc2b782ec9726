"""Each platform's markup: what people wrote stays text, what was formatted stays formatted."""

from __future__ import annotations

import re

import pytest

from bridge.model import Markup
from bridge.render import escape, render, sanitize_lms_html, to_plain

from ._wire import labelled_links, read

# What a person typed, as the LMS hands it back (plain text arrives HTML-escaped in <p>,
# moodle-4.5-observed.md item 9), plus real hostile HTML an editor could let through.
TYPED = (
    "<b>x</b> & <https://evil.example|click> <!channel> <@U1> <#C1> <@&1> <t:1:R> "
    "@everyone @here <at>Boss</at> **bold** __u__ _i_ ~s~ `c` [a](https://evil.example) "
    "# h > q - l 1. n \\ |sp|"
)
HOSTILE = (
    "<p>" + escape(TYPED) + "</p>"
    '<p><a href="javascript:alert(1)">js</a><script>alert(2)</script>'
    '<img src=x onerror="alert(3)" alt="pic"></p>'
)
ALL = list(Markup)


def rendered(markup: Markup, safe: str) -> str:
    chunks = render(safe, markup, 4000)
    assert len(chunks) == 1
    return chunks[0]


@pytest.mark.parametrize("markup", ALL)
def test_typed_markup_shows_literally(markup: Markup) -> None:
    out = rendered(markup, sanitize_lms_html(HOSTILE))
    visible, actionable = read(markup, out)
    assert actionable == []  # no link, no mention, nothing a client would act on
    assert TYPED in visible
    assert "js[picture: pic]" in visible
    assert "alert" not in out and "javascript" not in out


@pytest.mark.parametrize("markup", ALL)
def test_each_hostile_string_alone(markup: Markup) -> None:
    for typed in TYPED.split(" "):
        out = rendered(markup, sanitize_lms_html("<p>" + escape(typed) + "</p>"))
        visible, actionable = read(markup, out)
        assert (visible.strip(), actionable) == (typed, []), (typed, out)


def test_slack_special_sequences_are_entities() -> None:
    out = rendered(Markup.SLACK_MRKDWN, sanitize_lms_html(HOSTILE))
    assert "<" not in out and ">" not in out
    for seq in ("&lt;!channel&gt;", "&lt;@U1&gt;", "&lt;https://evil.example|click&gt;", "&amp;"):
        assert seq in out
    # Every formatting character in text sits right after a zero-width space.
    for i, ch in enumerate(out):
        if ch in "*_~`":
            assert out[i - 1] == "\u200b", out[i - 5 : i + 5]


def test_discord_everything_escaped() -> None:
    out = rendered(Markup.DISCORD_MARKDOWN, sanitize_lms_html(HOSTILE))
    assert "@everyone" not in out and "@here" not in out
    assert "@\u200beveryone" in out
    for seq in ("\\<@U1\\>", "\\<\\#C1\\>", "\\<@&1\\>", "\\<t:1:R\\>", "\\*\\*bold\\*\\*", "\\[a\\]"):
        assert seq in out
    unescaped = re.sub(r"\\.", "", out)
    assert not set(unescaped) & set("*_~`|>#-[]()<"), unescaped


def test_telegram_and_teams_escape_html() -> None:
    for markup in (Markup.TELEGRAM_HTML, Markup.TEAMS_HTML):
        out = rendered(markup, sanitize_lms_html(HOSTILE))
        assert "&lt;at&gt;Boss&lt;/at&gt;" in out
        assert "&lt;b&gt;x&lt;/b&gt; &amp;" in out
        assert "<at>" not in out and "<b>" not in out


FORMATTED = sanitize_lms_html(
    '<p>Read <a href="https://pluto.example/x?a=1&amp;b=2" target="_blank">the <b>notes</b></a> '
    "and <strong>bold</strong> <em>it</em> <code>a&lt;b</code> <del>gone</del> <u>under</u></p>"
    "<ul><li>one</li><li>two</li></ul><blockquote><p>quoted</p></blockquote><pre>x = `1` &amp; y</pre>"
)
EXPECTED = {
    Markup.PLAIN: "Read the notes (https://pluto.example/x?a=1&b=2) and bold it a<b gone under\n\n"
    "• one\n• two\n\n> quoted\n\nx = `1` & y",
    Markup.TELEGRAM_HTML: 'Read <a href="https://pluto.example/x?a=1&amp;b=2">the <b>notes</b></a> and '
    "<b>bold</b> <i>it</i> <code>a&lt;b</code> <s>gone</s> <u>under</u>\n\n• one\n• two\n\n"
    "<blockquote>quoted</blockquote>\n\n<pre>x = `1` &amp; y</pre>",
    Markup.SLACK_MRKDWN: "Read <https://pluto.example/x?a=1&amp;b=2|the notes> and *bold* _it_ `a&lt;b` "
    "~gone~ under\n\n• one\n• two\n\n> quoted\n\n```\nx = \u02cb1\u02cb &amp; y\n```",
    Markup.DISCORD_MARKDOWN: "Read [the **notes**](https://pluto.example/x?a=1&b=2) and **bold** *it* "
    "`a<b` ~~gone~~ __under__\n\n• one\n• two\n\n> quoted\n\n```\nx = \u02cb1\u02cb & y\n```",
    Markup.TEAMS_HTML: '<p>Read <a href="https://pluto.example/x?a=1&amp;b=2">the <b>notes</b></a> and '
    "<b>bold</b> <i>it</i> <code>a&lt;b</code> <s>gone</s> <u>under</u></p><p>• one<br>• two</p>"
    "<blockquote><p>quoted</p></blockquote><pre>x = `1` &amp; y</pre>",
}


@pytest.mark.parametrize("markup", ALL)
def test_real_formatting_preserved(markup: Markup) -> None:
    out = rendered(markup, FORMATTED)
    assert out == EXPECTED[markup]
    visible, actionable = read(markup, out)
    if markup is not Markup.PLAIN:
        assert actionable == ["https://pluto.example/x?a=1&b=2"]
        assert "Read the notes and bold it a<b gone under" in visible


def test_to_plain_link_label_equal_to_url_not_repeated() -> None:
    safe = (
        '<p><a href="https://a.example/x">https://a.example/x</a> '
        '<a href="mailto:m@a.example">m@a.example</a></p>'
    )
    assert to_plain(safe) == "https://a.example/x m@a.example"


def test_link_target_with_markup_breaking_characters() -> None:
    safe = '<p><a href="https://a.example/p?q=a|b&amp;x=(1)&gt;2">l|a]b&gt;</a></p>'
    slack = rendered(Markup.SLACK_MRKDWN, safe)
    assert slack == "<https://a.example/p?q=a%7Cb&amp;x=(1)%3E2|l\u2223a]b&gt;>"
    discord = rendered(Markup.DISCORD_MARKDOWN, safe)
    assert discord == "[l\\|a\\]b\\>](https://a.example/p?q=a|b&x=%281%29%3E2)"
    for markup in (Markup.TELEGRAM_HTML, Markup.TEAMS_HTML):
        assert 'href="https://a.example/p?q=a|b&amp;x=(1)&gt;2"' in rendered(markup, safe)


@pytest.mark.parametrize("markup", ALL)
def test_a_link_never_disguises_its_target(markup: Markup) -> None:
    # Issue 14.3: the label shows the Pluto address, the target is elsewhere.
    safe = sanitize_lms_html(
        '<p><a href="https://evil.example/phish">https://pluto.example/login</a> then '
        '<a href="https://pluto.example/x">pluto.example/x</a> and <a href="https://pluto.example/y">the brief</a></p>'
    )
    (chunk,) = render(safe, markup, 4000)
    visible, _ = read(markup, chunk)
    assert "evil.example" in visible.replace("https://pluto.example/login", "")
    pairs = labelled_links(markup, chunk)
    if markup is Markup.PLAIN:
        assert "https://pluto.example/login (https://evil.example/phish)" in chunk
        return
    disguised, honest, plain = pairs
    assert disguised[:2] == ("https://pluto.example/login", "https://evil.example/phish")
    assert disguised[2].startswith(" (evil.example)")
    assert not honest[2].startswith(" (") and not plain[2].startswith(" (")


def test_slack_code_after_an_authored_zero_width_space_still_opens() -> None:
    # Found by the 20,000-case run: Slack opens a style only after white space or
    # punctuation, so "\u200b`*`" showed the backticks and lost the code.
    (chunk,) = render(sanitize_lms_html("\u200b<code>*</code>"), Markup.SLACK_MRKDWN, 4000)
    assert chunk == "`*`"
