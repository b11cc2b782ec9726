"""LMS HTML into safe HTML, the bridge's own text into safe HTML, chat text into LMS text."""

from __future__ import annotations

import pytest

from bridge.render import chat_text_to_lms, escape, sanitize_lms_html, to_plain, utf8_len

from ._wire import HtmlReader

SAFE_TAGS = frozenset({"p", "br", "b", "i", "u", "s", "code", "pre", "blockquote", "ul", "ol", "li", "a"})


def assert_safe(html: str) -> HtmlReader:
    """Only the safe subset, properly nested, links with a safe scheme only."""
    reader = HtmlReader(SAFE_TAGS)
    reader.feed(html)
    reader.close()
    assert not reader.stack
    for href in reader.links:
        assert href.split(":", 1)[0].lower() in ("http", "https", "mailto"), href
    return reader


def test_moodle_plain_text_stays_text() -> None:
    # What Moodle 4.5 returns for textformat=2 "Hello <b>bold</b>" (observed item 9).
    safe = sanitize_lms_html("<p>Hello mentee1 (182419) &lt;b&gt;bold&lt;/b&gt;</p>")
    assert safe == "<p>Hello mentee1 (182419) &lt;b&gt;bold&lt;/b&gt;</p>"
    assert to_plain(safe) == "Hello mentee1 (182419) <b>bold</b>"


def test_script_and_style_content_dropped() -> None:
    safe = sanitize_lms_html("<p>a<script>alert('x')</script>b<style>p{color:red}</style>c</p>")
    assert to_plain(safe) == "abc"
    assert "alert" not in safe and "color" not in safe


@pytest.mark.parametrize(
    "href",
    ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,x", "vbscript:x", "/relative", "ftp://x"],
)
def test_unsafe_link_loses_link_keeps_text(href: str) -> None:
    safe = sanitize_lms_html(f'<p>see <a href="{href}" onclick="x()">this</a> now</p>')
    reader = assert_safe(safe)
    assert reader.links == []
    assert to_plain(safe) == "see this now"


def test_safe_links_kept_and_attributes_dropped() -> None:
    safe = sanitize_lms_html(
        '<p><a href="https://x.example/a?b=1&amp;c=2" target="_blank" class="k">one</a> '
        '<a href="mailto:t@x.example">mail</a></p>'
    )
    reader = assert_safe(safe)
    assert reader.links == ["https://x.example/a?b=1&c=2", "mailto:t@x.example"]
    assert "target" not in safe and "class" not in safe


def test_images_headings_tables() -> None:
    safe = sanitize_lms_html(
        '<h3>Week 1</h3><p>Look: <img src="x.png" alt="a chart &amp; key"></p>'
        "<table><tr><th>Name</th><th>Grade</th></tr><tr><td>Ann</td><td><p>A</p></td></tr></table>"
    )
    assert_safe(safe)
    assert safe.startswith("<p><b>Week 1</b></p>")
    assert to_plain(safe) == "Week 1\n\nLook: [picture: a chart & key]\n\nName | Grade\nAnn | A"


def test_entities_decoded_and_normalised() -> None:
    safe = sanitize_lms_html("<p>caf&eacute; &#8364;5&nbsp;each &quot;q&quot; &#x3C;tag&#x3E;</p>")
    assert safe == "<p>café €5 each \"q\" &lt;tag&gt;</p>"


def test_structure_survives_and_nests() -> None:
    safe = sanitize_lms_html(
        "<div><b>bold <div>inner</div> tail</b></div>"
        "<ul><li>one<ul><li>sub</li></ul></li><li><p>two</p><p>more</p></li></ul>"
        "<blockquote><p>q</p></blockquote><pre>  x &lt; y\n  z</pre><font color=red>t</font>"
    )
    assert_safe(safe)
    assert to_plain(safe) == (
        "bold\n\ninner\n\ntail\n\n• one\n  • sub\n• two\n  more\n\n> q\n\n  x < y\n  z\n\nt"
    )


def test_malformed_input_comes_out_well_formed() -> None:
    safe = sanitize_lms_html("<p><b><i>x</b> y</i><li>loose<a href='https://a.example'>z")
    assert_safe(safe)
    assert "x" in to_plain(safe) and "z" in to_plain(safe)


def test_escape_bridge_text() -> None:
    assert escape("a < b & c > d\r\nnext") == "a &lt; b &amp; c &gt; d<br>next"
    assert to_plain(escape("<at>Boss</at>\nline 2")) == "<at>Boss</at>\nline 2"


def test_chat_text_to_lms() -> None:
    typed = "  hello\x00 there\x07\t \r\nline\u200d two\x1b[31m  \r\n\r\n"
    assert chat_text_to_lms(typed) == "  hello there\nline\u200d two[31m"
    assert chat_text_to_lms("a\rb\ud800c\u2028d") == "a\nbc\nd"
    assert chat_text_to_lms("<b>not html</b> & more") == "<b>not html</b> & more"


def test_utf8_len() -> None:
    assert utf8_len("abc") == 3
    assert utf8_len("é") == 2
    assert utf8_len("€") == 3
    assert utf8_len("👍") == 4


_SOUP = [
    "<p>", "</p>", "<div>", "</div>", "<b>", "</b>", "<strong>", "<i>", "</em>", "<u>", "<s>", "</del>",
    "<code>", "</code>", "<pre>", "</pre>", "<blockquote>", "</blockquote>", "<ul>", "</ul>", "<ol>",
    "<li>", "</li>", "<br>", "<br/>", "<h2>", "</h2>", "<table>", "<tr>", "<td>", "</td>", "</table>",
    '<a href="https://ok.example/?a=1&amp;b=2">', '<a href="javascript:x()">', "</a>", "<img alt='i&amp;j'>",
    "<script>bad()</script>", "<style>s{}</style>", "<span style='x'>", "</span>", "<!-- c -->", "&amp;",
    "&lt;b&gt;", "&nbsp;", "&#128077;", "<", ">", "&", "\n", "  ", "word", "two words", "<at>Boss</at>",
]  # fmt: skip


def test_generated_tag_soup_becomes_safe_subset() -> None:
    import random

    from bridge.model import Markup
    from bridge.render import render

    rng = random.Random(99)
    for _ in range(300):
        soup = "".join(rng.choice(_SOUP) for _ in range(rng.randint(1, 60)))
        safe = sanitize_lms_html(soup)
        reader = assert_safe(safe)
        assert "bad()" not in safe and "s{}" not in safe and "javascript" not in safe
        again = sanitize_lms_html(safe)  # already safe: sanitising again changes nothing shown
        for markup in (Markup.PLAIN, Markup.TELEGRAM_HTML):
            assert render(again, markup, 10**6) == render(safe, markup, 10**6)
        assert "".join(reader.text).strip() or not to_plain(safe)
        for markup in Markup:
            assert all(0 < len(c) <= 80 for c in render(safe, markup, 80))


@pytest.mark.parametrize(
    ("lms_html", "kept"),
    [
        ("<p>a<text>KEEP</text>b</p>", "aKEEPb"),  # an SVG element name
        ("<p>a<math><mi>x</mi><mo>+</mo><mn>1</mn></math>b</p>", "ax+1b"),  # MathML
        ("<p>a<my-widget>C</my-widget>b</p>", "aCb"),  # a custom element
        ('<pre>x<img alt="picture">y</pre>', "x[picture: picture]y"),
        ('<p>x<img alt="chart">y</p>', "x[picture: chart]y"),
        ("<script>x</script>\ufeffy", "\ufeffy"),  # a U+FEFF that is not a byte-order mark
        ("\ufeff<p>a\ufeffb</p>", "a\ufeffb"),  # the byte-order mark at the very start goes
    ],
)
def test_nothing_authored_is_lost(lms_html: str, kept: str) -> None:
    # Issue 14.4, each minimal case of the fuzz run.
    assert to_plain(sanitize_lms_html(lms_html)) == kept


def test_foreign_elements_keep_their_text_but_not_their_scripts() -> None:
    safe = sanitize_lms_html('<p>a<svg onload="x()"><script>bad()</script><style>s{}</style><text>IN</text></svg>b</p>')
    assert safe == "<p>aINb</p>"
