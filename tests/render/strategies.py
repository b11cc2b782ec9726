"""Hypothesis strategies for the property suite: text a person types, HTML as Moodle returns
it and as authors write it, and each chat platform's control sequences, with what the author
wrote alongside each generated HTML (the oracle the properties compare against).

Settings come from the environment: ``PLUTO_FUZZ_EXAMPLES`` sets the cases per property and
platform (500 by default, so CI stays quick; ``PLUTO_FUZZ_EXAMPLES=100000`` for the full
run). The run is derandomized, so a CI failure reproduces exactly.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("PLUTO_FUZZ_EXAMPLES", "500"))
_COMMON: dict[str, Any] = {
    "derandomize": True,
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
FUZZ = settings(max_examples=EXAMPLES, **_COMMON)
# Texts around a limit are long (22 KB for Teams): a fifth as many keep CI quick.
FUZZ_LONG = settings(max_examples=max(20, EXAMPLES // 5), **_COMMON)

# Each platform's control sequences, and the characters fuzzing found tricky.
HOSTILE_PIECES = (
    "<!channel>", "<!here>", "<!subteam^S0614TZR7>", "<@U1>", "<#C1>", "<@&1>", "<t:1700000000:R>",
    "</pluto tasks:1>", "<:emo:1>", "@everyone", "@here", "<at>Boss</at>", "**bold**", "__u__", "_i_",
    "~s~", "`c`", "```", "[a](https://evil.example)", "<https://evil.example|click>", "# h", "> q", "- l",
    "1. n", "\\", "|", "&amp;", "&lt;b&gt;", "&", "<", ">", "\"", "'", "https://pluto.example/login",
    "pluto.example", "evil.example", "\u200b", "\u200d", "\u2060", "\ufeff", "\u202e", "\u2066", "\u00a0",
    "\ud850", "\U0001f600", "\U0001f469\u200d\U0001f4bb", "\U0001f1e9\U0001f1ea", "e\u0301", "\r\n", "\n",
    "\t", "\x00", "\x0b", "\u2028",
)  # fmt: skip
HREFS = (
    "https://pluto.example/login",
    "https://evil.example/phish",
    "http://xn--plto-wqa.example/",
    "mailto:tutor@pluto.example",
    "javascript:alert(1)",
    "data:text/html,x",
    "/relative/path",
)
SAFE_HREF_PREFIXES = ("http://", "https://", "mailto:")


def unicode_text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Any text: every code point (lone surrogates too) mixed with hostile pieces."""
    chars = st.characters(codec=None, categories=None)
    return st.lists(st.one_of(st.text(chars, max_size=8), st.sampled_from(HOSTILE_PIECES)), max_size=max_size).map(
        "".join
    )


@dataclass(frozen=True)
class Authored:
    """Generated LMS HTML and the text its author wrote, in order (alt text as the bridge
    documents it: "[picture: alt]")."""

    html: str
    text: str
    hrefs: frozenset[str]


_INLINE = ("b", "strong", "i", "em", "u", "s", "del", "code", "span", "kbd", "text", "mi", "my-el", "font")
_BLOCK = ("p", "div", "blockquote", "h1", "h3", "pre", "ul", "ol", "li", "section")
_NOTHING: frozenset[str] = frozenset()


def _join(parts: list[Authored], wrap: str = "{}") -> Authored:
    return Authored(
        wrap.format("".join(p.html for p in parts)),
        "".join(p.text for p in parts),
        _NOTHING.union(*(p.hrefs for p in parts)),
    )


def _text_node(text: str) -> Authored:
    return Authored(html.escape(text, quote=False), text, _NOTHING)


def _image(alt: str) -> Authored:
    shown = f"[picture: {alt.strip()}]" if alt.strip() else ""
    return Authored(f'<img src="x.png" alt="{html.escape(alt, quote=True)}">', shown, _NOTHING)


def _element(tag: str, children: list[Authored]) -> Authored:
    return _join(children, f"<{tag}>{{}}</{tag}>")


def _link(href: str, children: list[Authored]) -> Authored:
    inner = _join(children)
    safe = href.startswith(SAFE_HREF_PREFIXES)
    linked = inner.hrefs | ({href} if safe else _NOTHING)
    return Authored(f'<a href="{html.escape(href, quote=True)}">{inner.html}</a>', inner.text, linked)


def _table(cells: list[Authored]) -> Authored:
    # Well-formed: text outside cells would be moved before the table by any HTML parser.
    return _join([_element("td", [c]) for c in cells], "<table><tr>{}</tr></table>")


_LEAVES = st.one_of(
    unicode_text(6).map(_text_node),
    unicode_text(6).map(_text_node),
    st.just(Authored("<br>", "", _NOTHING)),
    st.text(st.characters(codec="utf-8"), max_size=8).map(_image),
    # Script content a reader never sees (and that cannot end the element early).
    st.text("abc(); ", max_size=5).map(lambda c: Authored(f"<script>{c}</script>", "", _NOTHING)),
)


def _nodes(depth: int) -> st.SearchStrategy[Authored]:
    if depth <= 0:
        return _LEAVES
    children = st.lists(_nodes(depth - 1), max_size=4)
    return st.one_of(
        _LEAVES,
        st.builds(_element, st.sampled_from(_INLINE), children),
        st.builds(_element, st.sampled_from(_BLOCK), children),
        st.builds(_link, st.sampled_from(HREFS), children),
        st.lists(_nodes(depth - 1), min_size=1, max_size=3).map(_table),
    )


_AUTHORED = st.lists(_nodes(3), min_size=1, max_size=6).map(_join)


def authored_html() -> st.SearchStrategy[Authored]:
    """HTML as authors write it (nested, unknown and foreign tags, links, images, scripts)."""
    return _AUTHORED


@st.composite
def typed_in_moodle(draw: st.DrawFn) -> Authored:
    """Plain text typed in Pluto, as Moodle returns it (escaped, in a paragraph, line
    breaks as <br>; moodle-4.5-observed.md item 9)."""
    text = draw(unicode_text())
    body = html.escape(text, quote=False).replace("\n", "<br>\n")
    return Authored(f"<p>{body}</p>", text, frozenset())


@st.composite
def near_limit(draw: st.DrawFn, limit: int, measure: Callable[[str], int]) -> Authored:
    """One piece repeated to about ``limit`` (as the platform measures it): lengths around a
    platform's limit."""
    piece = draw(st.sampled_from(("\U0001f600", "Ж", "a", "&", "a b. ", "**x** ", "<@U1> ", "e\u0301")))
    unit = max(1, measure(piece * 10) // 10)
    count = draw(st.integers(min_value=max(1, limit // unit - 40), max_value=limit // unit + 40))
    text = piece * count
    return Authored(f"<p>{html.escape(text, quote=False)}</p>", text, frozenset())
