"""Microsoft Teams message HTML (activity ``textFormat`` "xml").

Teams draws a small HTML subset; this renderer emits only ``b i u s code pre a br p
blockquote`` and escapes every text node, so ``<at>Boss</at>`` typed by someone shows
literally and never mentions anyone (a Teams mention also needs an ``entities`` item, which
only an adapter adds on purpose). Lists are drawn as "• item" lines: ``ol`` is not in the
subset Teams documents, and lines keep both kinds alike across platforms.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from bridge.model import Markup
from bridge.render.document import BOLD, CODE, ITALIC, LINK, STRIKE, UNDERLINE, Block, Mark
from bridge.render.renderer import Renderer


class TeamsRenderer(Renderer):
    """Teams HTML: paragraphs as ``<p>``, line breaks and list items as ``<br>``."""

    markup = Markup.TEAMS_HTML
    supported = frozenset({BOLD, ITALIC, UNDERLINE, STRIKE, CODE, LINK})
    line_sep = "<br>"
    block_sep = ""
    tight_sep = "<br>"
    indent_unit = "\u00a0\u00a0"  # HTML collapses ordinary spaces
    quote_prefix = ""  # quotes are <blockquote> elements (see ``render``)

    def escape(self, text: str, marks: tuple[Mark, ...]) -> str:
        """HTML-escape ``< > &``."""
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

    def render(self, blocks: Sequence[Block]) -> str:
        """Each paragraph a ``<p>`` (list items share one, line by line); consecutive
        quoted blocks inside one ``<blockquote>``."""
        groups: list[tuple[bool, list[Block]]] = []
        for block in blocks:
            same = (
                groups
                and block.tight
                and not block.pre
                and not groups[-1][1][-1].pre
                and groups[-1][0] == block.quote
            )
            if same:
                groups[-1][1].append(block)
            else:
                groups.append((block.quote, [block]))
        out: list[str] = []
        in_quote = False
        for quoted, members in groups:
            if quoted != in_quote:
                out.append("<blockquote>" if quoted else "</blockquote>")
                in_quote = quoted
            if members[0].pre:
                out.append(self.render_pre(members[0]))
            else:
                out.append("<p>" + "<br>".join(self.render_text(b) for b in members) + "</p>")
        if in_quote:
            out.append("</blockquote>")
        return "".join(out)

    def joint(self, tight: bool) -> str:
        """Joining never costs more than the blocks alone (``<p>`` and quote elements merge)."""
        return ""
