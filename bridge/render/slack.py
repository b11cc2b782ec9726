"""Slack mrkdwn.

Only ``& < >`` are control characters in mrkdwn; escaping them as ``&amp; &lt; &gt;``
disarms every special sequence (``<!channel>``, ``<@U1>``, ``<https://x|y>``). The
formatting characters ``* _ ~ ` `` cannot be escaped at all, so a ZERO WIDTH SPACE
(U+200B) is written before each one in ordinary text: Slack opens a style only after
white space or punctuation, and U+200B is neither, so the character shows as itself.
Inside code, where styles are not parsed, a backtick would end the span and is replaced by
U+02CB (a look-alike); an authored U+200B right before markup is dropped, as it would keep
the markup from opening. In link labels ``|`` becomes U+2223 so it cannot end the URL part.
Slack has no underline; underlined text is drawn plain, and so is styling inside a
link label (Slack draws labels as text).
"""

from __future__ import annotations

import re

from bridge.model import Markup
from bridge.render.document import BOLD, CODE, ITALIC, LINK, STRIKE, Block, Mark
from bridge.render.renderer import Renderer

ZWSP = "\u200b"
_FORMATTING = re.compile(r"([*_~`])")
_DELIMITERS = {BOLD: "*", ITALIC: "_", STRIKE: "~", CODE: "`"}


def escape_mrkdwn(text: str) -> str:
    """Slack's three entities; nothing else is an escape in mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _url(href: str) -> str:
    # The URL sits between "<" and "|": anything that could end it is percent-encoded.
    for raw, coded in (("|", "%7C"), ("<", "%3C"), (">", "%3E"), (" ", "%20")):
        href = href.replace(raw, coded)
    return href.replace("&", "&amp;")


class SlackRenderer(Renderer):
    """Slack mrkdwn (message ``text`` and ``mrkdwn`` text objects)."""

    markup = Markup.SLACK_MRKDWN
    supported = frozenset({BOLD, ITALIC, STRIKE, CODE, LINK})

    def order(self, marks: tuple[Mark, ...]) -> tuple[Mark, ...]:
        """As the base, but nothing inside a link: Slack draws link labels as text."""
        ordered = super().order(marks)
        for i, mark in enumerate(ordered):
            if mark.kind == LINK:
                return ordered[: i + 1]
        return ordered

    def escape(self, text: str, marks: tuple[Mark, ...]) -> str:
        """Entities for ``& < >``; formatting characters neutralised (see module doc)."""
        text = escape_mrkdwn(text)
        if any(m.kind == CODE for m in marks):
            return text.replace("`", "\u02cb")
        if any(m.kind == LINK for m in marks):
            text = text.replace("|", "\u2223")
        # An authored U+200B at the end would keep the next style from opening: it goes.
        return _FORMATTING.sub(ZWSP + r"\1", text.rstrip(ZWSP))

    def open(self, mark: Mark) -> str:
        """``*`` ``_`` ``~`` `` ` `` or ``<url|``."""
        if mark.kind == LINK:
            return f"<{_url(mark.href)}|"
        return _DELIMITERS[mark.kind]

    def close(self, mark: Mark, label: str) -> str:
        """The matching delimiter, or ``>`` after a link label."""
        return ">" if mark.kind == LINK else _DELIMITERS[mark.kind]

    def render_pre(self, block: Block) -> str:
        """A fenced block; entities still apply inside it, and backticks cannot end it."""
        body = escape_mrkdwn(block.text()).replace("`", "\u02cb")
        return f"```\n{body}\n```"
