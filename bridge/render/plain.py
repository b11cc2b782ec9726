"""Plain text: what a console, a notification preview or a screen reader gets."""

from __future__ import annotations

from bridge.model import Markup
from bridge.render.document import LINK, Block, Mark
from bridge.render.renderer import Renderer


class PlainRenderer(Renderer):
    """Readable plain text: styles dropped, links as "label (url)", lists as "• item",
    quotes as "> " lines."""

    markup = Markup.PLAIN
    supported = frozenset({LINK})

    def close(self, mark: Mark, label: str) -> str:
        """A link shows its target after the label, unless the label already is it."""
        if mark.kind != LINK:
            return ""
        shown = label.strip()
        target = mark.href
        if shown in (target, target.removeprefix("mailto:"), target.rstrip("/")):
            return ""
        return f" ({target})"

    def link_note(self, mark: Mark, label: str, outer: tuple[Mark, ...]) -> str:
        """Nothing: ``close`` already shows the whole target of any label that is not it."""
        return ""

    def render_pre(self, block: Block) -> str:
        """Preformatted text as it is (quoted line by line when in a quote)."""
        quote = self.quote_prefix if block.quote else ""
        return "\n".join(f"{quote}{row}" for row in block.text().split("\n"))
