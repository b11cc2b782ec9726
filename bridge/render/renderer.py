"""What every markup renderer shares: drawing blocks, lines and nested marks.

A renderer turns ``Block`` values into one platform's markup. Subclasses say how text is
escaped and how each mark opens and closes; this base walks the tree, so every text node
goes through ``escape`` and every piece of markup comes from the renderer itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from bridge.model import Markup
from bridge.render.document import CODE, LINK, Block, Line, Mark
from bridge.render.links import disguised_host


class Renderer:
    """Base renderer; the defaults draw plain text."""

    markup: Markup = Markup.PLAIN
    supported: frozenset[str] = frozenset()  # mark kinds this markup can draw
    line_sep = "\n"
    block_sep = "\n\n"
    tight_sep = "\n"
    quote_prefix = "> "  # per-line quote marker, for markups without a quote element
    quote_open = ""  # a quote element wrapping consecutive quoted blocks, if the markup has one
    quote_close = ""
    indent_unit = "  "
    split_delimiters = False  # put U+200B between a closing and an opening delimiter alike

    # -- what subclasses define ------------------------------------------------------------

    def escape(self, text: str, marks: tuple[Mark, ...]) -> str:
        """``text`` written so that it shows literally under ``marks``."""
        return text

    def open(self, mark: Mark) -> str:
        """Markup that starts ``mark``."""
        return ""

    def close(self, mark: Mark, label: str) -> str:
        """Markup that ends ``mark``; ``label`` is the visible text it covered."""
        return ""

    def render_pre(self, block: Block) -> str:
        """A preformatted block, white space kept."""
        return block.text()

    def link_note(self, mark: Mark, label: str, outer: tuple[Mark, ...]) -> str:
        """Drawn after a link: its target's host when the label shows another address (see
        ``bridge.render.links``), as text under the marks still open."""
        host = disguised_host(label, mark.href)
        return self.escape(f" ({host})", outer) if host else ""

    def _close(self, stack: list[Mark], labels: list[list[str]]) -> str:
        mark = stack.pop()
        label = "".join(labels.pop())
        closed = self.close(mark, label)
        return closed + self.link_note(mark, label, tuple(stack)) if mark.kind == LINK else closed

    # -- shared drawing ----------------------------------------------------------------------

    def order(self, marks: tuple[Mark, ...]) -> tuple[Mark, ...]:
        """The drawable marks in nesting order, code moved innermost (markups draw nothing
        inside code). Keeping the source order otherwise keeps a link one link even when
        part of its label is styled."""
        drawn = tuple(m for m in marks if m.kind in self.supported)
        return tuple(m for m in drawn if m.kind != CODE) + tuple(m for m in drawn if m.kind == CODE)

    def render_line(self, line: Line) -> str:
        """One line's runs, with marks opened and closed as a properly nested stack."""
        out: list[str] = []
        stack: list[Mark] = []
        labels: list[list[str]] = []
        for run in line:
            marks = self.order(run.marks)
            keep = 0
            while keep < len(stack) and keep < len(marks) and stack[keep] == marks[keep]:
                keep += 1
            while len(stack) > keep:
                out.append(self._close(stack, labels))
            for mark in marks[keep:]:
                opener = self.open(mark)
                if self.split_delimiters and out and opener and out[-1][-1:] == opener[0]:
                    out.append("\u200b")  # "**a***b*" would read as one run of asterisks
                out.append(opener)
                stack.append(mark)
                labels.append([])
            out.append(self.escape(run.text, marks))
            for label in labels:
                label.append(run.text)
        while stack:
            out.append(self._close(stack, labels))
        return "".join(out)

    def indent(self, block: Block, first: bool) -> str:
        """The list prefix of a line: indentation, then the bullet on an item's first line."""
        if not block.indent:
            return ""
        pad = self.indent_unit * (block.indent - 1)
        if first and block.bullet:
            return pad + block.bullet
        return pad + self.indent_unit

    def render_text(self, block: Block) -> str:
        """A paragraph or list item, one rendered line per line break."""
        quote = self.quote_prefix if block.quote and not self.quote_open else ""
        rows = []
        for i, line in enumerate(block.lines):
            body = self.render_line(line)
            prefix = self.indent(block, i == 0) if body else ""
            # A blank line keeps its quote marker whole, else the quote would end there.
            rows.append(f"{quote}{prefix}{body}" if body else quote)
        return self.line_sep.join(rows)

    def render_block(self, block: Block) -> str:
        """One block, without anything that joins it to its neighbours."""
        return self.render_pre(block) if block.pre else self.render_text(block)

    def render(self, blocks: Sequence[Block]) -> str:
        """Blocks joined by blank lines (line breaks between list items), consecutive
        quoted blocks inside one quote element where the markup has one."""
        out: list[str] = []
        in_quote = False
        for i, block in enumerate(blocks):
            quoted = bool(self.quote_open) and block.quote and not block.pre
            if in_quote and not quoted:
                out.append(self.quote_close)
                in_quote = False
            if i:
                out.append(self.tight_sep if block.tight else self.block_sep)
            if quoted and not in_quote:
                out.append(self.quote_open)
                in_quote = True
            out.append(self.render_block(block))
        if in_quote:
            out.append(self.quote_close)
        return "".join(out)

    def joint(self, tight: bool) -> str:
        """The markup joining one more block (see ``render``): measured, an upper bound on
        what joining it costs."""
        return self.tight_sep if tight else self.block_sep
