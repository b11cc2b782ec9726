"""Discord message markdown (``content``, at most 2000 characters).

Every character markdown could read as syntax gets a backslash: ``\\ * _ ~ ` | > # - [ ]
( ) + <`` (the ``<`` disarms ``<@123>``, ``<#1>``, ``<@&1>``, ``<t:...>`` and ``<https://..>``)
and a ``.`` after a digit (ordered-list markers). "@everyone" and "@here" get a ZERO WIDTH
SPACE after the "@" so they stay text even where ``allowed_mentions`` is forgotten (senders
should still pass ``{"parse": []}``). Inside code nothing is parsed, so only backticks are
replaced (by the look-alike U+02CB) lest they end the span.
"""

from __future__ import annotations

import re

from bridge.model import Markup
from bridge.render.document import BOLD, CODE, ITALIC, LINK, STRIKE, UNDERLINE, Block, Mark
from bridge.render.renderer import Renderer

ZWSP = "\u200b"
_SPECIAL = re.compile(r"([\\*_~`|>#\-\[\]()+<])")
_DIGIT_DOT = re.compile(r"(?<=\d)\.")
_MASS_MENTION = re.compile(r"@(?=everyone|here)", re.IGNORECASE)
_DELIMITERS = {BOLD: "**", ITALIC: "*", UNDERLINE: "__", STRIKE: "~~", CODE: "`"}


def defang_mentions(text: str) -> str:
    """"@everyone" / "@here" with a zero-width space after the "@"."""
    return _MASS_MENTION.sub("@" + ZWSP, text)


def _url(href: str) -> str:
    # The URL sits inside "( )": anything that could end it is percent-encoded.
    for raw, coded in (("(", "%28"), (")", "%29"), (" ", "%20"), ("<", "%3C"), (">", "%3E")):
        href = href.replace(raw, coded)
    return href


class DiscordRenderer(Renderer):
    """Discord markdown."""

    markup = Markup.DISCORD_MARKDOWN
    supported = frozenset({BOLD, ITALIC, UNDERLINE, STRIKE, CODE, LINK})
    split_delimiters = True

    def escape(self, text: str, marks: tuple[Mark, ...]) -> str:
        """Backslash every markdown character (see module doc); defang mass mentions."""
        if any(m.kind == CODE for m in marks):
            return defang_mentions(text.replace("`", "\u02cb"))
        text = _SPECIAL.sub(r"\\\1", text)
        return defang_mentions(_DIGIT_DOT.sub(r"\\.", text))

    def open(self, mark: Mark) -> str:
        """``**`` ``*`` ``__`` ``~~`` `` ` `` or ``[``."""
        return "[" if mark.kind == LINK else _DELIMITERS[mark.kind]

    def close(self, mark: Mark, label: str) -> str:
        """The matching delimiter, or ``](url)`` after a link label."""
        return f"]({_url(mark.href)})" if mark.kind == LINK else _DELIMITERS[mark.kind]

    def render_pre(self, block: Block) -> str:
        """A fenced code block; backticks inside cannot end it."""
        body = defang_mentions(block.text().replace("`", "\u02cb"))
        return f"```\n{body}\n```"
