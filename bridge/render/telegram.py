"""Telegram Bot API HTML (``parse_mode="HTML"``).

Only ``b i u s code pre a blockquote`` are drawn; every text node is escaped with
``&lt; &gt; &amp;`` (and ``&quot;`` inside ``href``), the only named entities Telegram
accepts. Lists become "• item" lines and line breaks real newlines. Lengths are measured on
the rendered markup, which over-counts Telegram's own measure (characters after entity
parsing), so a chunk that fits here always fits there.
"""

from __future__ import annotations

import html

from bridge.model import Markup
from bridge.render.document import BOLD, CODE, ITALIC, LINK, STRIKE, UNDERLINE, Block, Mark
from bridge.render.renderer import Renderer


class TelegramRenderer(Renderer):
    """Telegram HTML."""

    markup = Markup.TELEGRAM_HTML
    supported = frozenset({BOLD, ITALIC, UNDERLINE, STRIKE, CODE, LINK})
    # Telegram cannot nest blockquotes, so consecutive quoted blocks share one element.
    quote_open = "<blockquote>"
    quote_close = "</blockquote>"

    def escape(self, text: str, marks: tuple[Mark, ...]) -> str:
        """HTML-escape ``< > &``; quotes need no escaping outside attributes."""
        return html.escape(text, quote=False)

    def open(self, mark: Mark) -> str:
        """``<b>``, ``<a href="...">`` and so on."""
        if mark.kind == LINK:
            return f'<a href="{html.escape(mark.href, quote=True)}">'
        return f"<{mark.kind}>"

    def close(self, mark: Mark, label: str) -> str:
        """The matching end tag."""
        return f"</{mark.kind}>"

    def render_pre(self, block: Block) -> str:
        """``<pre>`` with the text escaped."""
        return f"<pre>{html.escape(block.text(), quote=False)}</pre>"
