"""Test helpers: read rendered markup back the way each platform would.

They are deliberately independent of bridge.render's code: small readers of each markup
that return (visible text, the markup elements a client would act on).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from bridge.model import Markup

TELEGRAM_TAGS = frozenset({"b", "i", "u", "s", "code", "pre", "a", "blockquote"})
TEAMS_TAGS = frozenset({"b", "i", "u", "s", "code", "pre", "a", "br", "p", "blockquote"})
_VOID = frozenset({"br"})


class HtmlReader(HTMLParser):
    """Collects text and links, and checks that every tag is allowed and balanced."""

    def __init__(self, allowed: frozenset[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.allowed = allowed
        self.stack: list[str] = []
        self.text: list[str] = []
        self.links: list[str] = []
        self.tags: list[str] = []
        self.spans: list[tuple[int, int]] = []  # each link's label, as character offsets in text

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in self.allowed, f"tag <{tag}> not allowed"
        self.tags.append(tag)
        if tag == "a":
            assert [k for k, _ in attrs] == ["href"], attrs
            self.links.append(attrs[0][1] or "")
            self.spans.append((len("".join(self.text)), -1))
        if tag == "br":
            self.text.append("\n")
        elif tag not in _VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack}"
        self.stack.pop()
        if tag == "a":
            self.spans[-1] = (self.spans[-1][0], len("".join(self.text)))
        if tag == "p":
            self.text.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def read_html(markup: str, allowed: frozenset[str]) -> tuple[str, list[str]]:
    """Visible text and link targets of Telegram/Teams HTML; asserts it is well-formed."""
    # Telegram rejects named entities other than these four: check before decoding.
    for entity in re.findall(r"&([A-Za-z]+);", markup):
        assert entity in ("lt", "gt", "amp", "quot"), entity
    reader = HtmlReader(allowed)
    reader.feed(markup)
    reader.close()
    assert not reader.stack, f"unclosed {reader.stack}"
    return "".join(reader.text), reader.links


_SLACK_SPECIAL = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")


def read_slack(text: str) -> tuple[str, list[str]]:
    """Visible text of Slack mrkdwn and its special sequences (links, mentions).

    Formatting characters right after U+200B are literal; other ones are markup.
    """
    specials = [_unslack(m.group(1)) for m in _SLACK_SPECIAL.finditer(text)]
    text = _SLACK_SPECIAL.sub(lambda m: m.group(2) if m.group(2) is not None else m.group(1), text)
    text = re.sub(r"^> ?", "", text, flags=re.MULTILINE)
    # Inside code (fenced or inline) nothing is formatting; outside, a formatting character
    # right after U+200B is literal.
    parts = re.split(r"((?<!\u200b)```.*?```|(?<!\u200b)`[^`]*`)", text, flags=re.S)
    out = [
        part.strip("`") if i % 2 else re.sub(r"(?<!\u200b)[*_~`]", "", part).replace("\u200b", "")
        for i, part in enumerate(parts)
    ]
    return _unslack("".join(out)), specials


def _unslack(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


_DISCORD_LINK = re.compile(r"(?<!\\)\[((?:\\.|[^\\\]])*)\]\(([^()\s]*)\)")


def discord_code_spans(text: str) -> list[tuple[int, int]]:
    """Where code is in Discord markdown (fenced, or inline between backticks), scanning as
    Discord does: outside code a backslash makes the next character literal."""
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "`":
            fence = "```" if text.startswith("```", i) else "`"
            end = text.find(fence, i + len(fence))
            if end >= 0:
                spans.append((i, end + len(fence)))
                i = end + len(fence)
                continue
        i += 1
    return spans


def read_discord(text: str) -> tuple[str, list[str]]:
    """Visible text of Discord markdown and its link targets and mention sequences. Code is
    literal: no links, mentions or escapes in it."""
    visible: list[str] = []
    found: list[str] = []
    pos = 0
    for start, end in [*discord_code_spans(text), (len(text), len(text))]:
        part = text[pos:start]
        found += [m.group(2) for m in _DISCORD_LINK.finditer(part)]
        part = _DISCORD_LINK.sub(lambda m: m.group(1), part)
        part = re.sub(r"^> ", "", part, flags=re.MULTILINE)
        found += re.findall(r"(?<!\\)<[@#:tah][^>]*>", part)
        visible.append(re.sub(r"\\(.)|[*_~`]", lambda m: m.group(1) or "", part))
        visible.append(text[start:end].strip("`"))
        pos = end
    return "".join(visible).replace("\u200b", ""), found


def read(markup: Markup, text: str) -> tuple[str, list[str]]:
    """Visible text and actionable elements (links, mentions) of ``text`` in ``markup``."""
    if markup is Markup.TELEGRAM_HTML:
        return read_html(text, TELEGRAM_TAGS)
    if markup is Markup.TEAMS_HTML:
        return read_html(text, TEAMS_TAGS)
    if markup is Markup.SLACK_MRKDWN:
        return read_slack(text)
    if markup is Markup.DISCORD_MARKDOWN:
        return read_discord(text)
    return text, []


def squash(text: str) -> str:
    """Text without any white space (split points may add or drop some)."""
    return re.sub(r"[\s\u00a0\u200b]+", "", text)


def labelled_links(markup: Markup, text: str) -> list[tuple[str, str, str]]:
    """Every link of ``text`` as (visible label, target, the visible text after it)."""
    if markup in (Markup.TELEGRAM_HTML, Markup.TEAMS_HTML):
        reader = HtmlReader(TELEGRAM_TAGS if markup is Markup.TELEGRAM_HTML else TEAMS_TAGS)
        reader.feed(text)
        reader.close()
        visible = "".join(reader.text)
        return [(visible[a:b], href, visible[b:]) for (a, b), href in zip(reader.spans, reader.links, strict=True)]
    if markup is Markup.SLACK_MRKDWN:
        found = [m for m in _SLACK_SPECIAL.finditer(text) if m.group(2) is not None]
        return [(read_slack(m.group(2))[0], _unslack(m.group(1)), read_slack(text[m.end() :])[0]) for m in found]
    if markup is Markup.DISCORD_MARKDOWN:
        # Code binds tighter than link brackets: look for links with code spans masked.
        masked = text
        for start, end in discord_code_spans(text):
            masked = masked[:start] + "\x00" * (end - start) + masked[end:]
        return [
            (read_discord(text[m.start(1) : m.end(1)])[0], m.group(2), read_discord(text[m.end() :])[0])
            for m in _DISCORD_LINK.finditer(masked)
        ]
    return []
