"""A tiny block/inline tree for safe HTML, and the parser that builds it.

Every renderer works from this tree rather than from HTML, so what reaches a platform is
only ever built from text nodes (escaped by the renderer) and the handful of marks and
blocks defined here: nothing in the input can smuggle markup through.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from urllib.parse import urlsplit

SAFE_SCHEMES = frozenset({"http", "https", "mailto"})

# Inline styles a run of text can carry; LINK carries its target in ``Mark.href``.
BOLD, ITALIC, UNDERLINE, STRIKE, CODE, LINK = "b", "i", "u", "s", "code", "a"

_INLINE_TAGS = {
    "b": BOLD,
    "strong": BOLD,
    "i": ITALIC,
    "em": ITALIC,
    "u": UNDERLINE,
    "ins": UNDERLINE,
    "s": STRIKE,
    "del": STRIKE,
    "strike": STRIKE,
    "code": CODE,
}
# Tags that end the current block (the safe subset uses only <p>; the rest keeps a
# hand-built or unexpected input readable instead of running paragraphs together).
_BLOCK_TAGS = frozenset(
    {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "table", "tr", "section", "article"}
)
# HTML's collapsible white space; deliberately not ``\s``, which would also eat U+00A0.
_WS = re.compile(r"[ \t\n\r\f]+")
MAX_INDENT = 4  # deeper list nesting is drawn at this depth so prefixes stay bounded


@dataclass(frozen=True, slots=True)
class Mark:
    """One inline style; ``href`` is set only for links."""

    kind: str
    href: str = ""


@dataclass(frozen=True, slots=True)
class Run:
    """Text that carries the same marks throughout, outermost mark first."""

    text: str
    marks: tuple[Mark, ...] = ()


Line = tuple[Run, ...]


@dataclass(frozen=True, slots=True)
class Block:
    """A paragraph, list item or preformatted block.

    ``lines`` are separated by hard line breaks. ``pre`` blocks hold one unmarked run per
    line, white space kept. ``quote`` says the block sits in a blockquote; ``indent`` is the
    list nesting depth (0 outside lists) and ``bullet`` the item marker ("• ", "3. ") on the
    first line, empty for an item's continuation. ``tight`` joins the block to the previous
    one with a single line break (list items) instead of a blank line.
    """

    lines: tuple[Line, ...]
    pre: bool = False
    quote: bool = False
    indent: int = 0
    bullet: str = ""
    tight: bool = False

    def text(self) -> str:
        """The block's visible text, lines joined by newlines (no bullets, no marks)."""
        return "\n".join("".join(r.text for r in line) for line in self.lines)


def safe_href(href: str) -> str | None:
    """``href`` if it is an absolute http, https or mailto URL, else None."""
    href = href.strip()
    try:
        parts = urlsplit(href)
    except ValueError:
        return None
    if parts.scheme.lower() not in SAFE_SCHEMES:
        return None
    if parts.scheme.lower() != "mailto" and not parts.netloc:
        return None
    return href


def line_text(line: Line) -> str:
    """The visible text of one line."""
    return "".join(r.text for r in line)


def slice_line(line: Line, start: int, end: int) -> Line:
    """The runs covering visible characters ``start:end`` of ``line``."""
    out: list[Run] = []
    pos = 0
    for run in line:
        run_end = pos + len(run.text)
        lo, hi = max(start, pos), min(end, run_end)
        if lo < hi:
            out.append(Run(run.text[lo - pos : hi - pos], run.marks))
        pos = run_end
        if pos >= end:
            break
    return tuple(out)


def normalise_line(runs: Sequence[Run]) -> Line:
    """Collapse white space across runs, trim the ends, merge neighbours with equal marks,
    and move white space at the edge of a marked run out of the mark (markdown flavours
    do not open or close a style next to a space)."""
    collapsed: list[Run] = []
    at_space = True  # the start of a line counts as white space
    for run in runs:
        text = _WS.sub(" ", run.text)
        if at_space:
            text = text.lstrip(" ")
        if not text:
            continue
        at_space = text.endswith(" ")
        collapsed.append(Run(text, run.marks))
    while collapsed and collapsed[-1].text.endswith(" "):
        last = collapsed.pop()
        if last.text.rstrip(" "):
            collapsed.append(Run(last.text.rstrip(" "), last.marks))
    split: list[Run] = []
    for i, run in enumerate(collapsed):
        text, marks = run.text, run.marks
        if not marks:
            split.append(run)
            continue
        lead = len(text) - len(text.lstrip(" "))
        trail = len(text) - len(text.rstrip(" "))
        if lead:
            prev = collapsed[i - 1].marks if i else ()
            split.append(Run(" ", _common(prev, marks)))
        split.append(Run(text.strip(" "), marks))
        if trail:
            nxt = collapsed[i + 1].marks if i + 1 < len(collapsed) else ()
            split.append(Run(" ", _common(marks, nxt)))
    merged: list[Run] = []
    for run in split:
        if merged and merged[-1].marks == run.marks:
            merged[-1] = Run(merged[-1].text + run.text, run.marks)
        else:
            merged.append(run)
    return tuple(merged)


def _common(a: tuple[Mark, ...], b: tuple[Mark, ...]) -> tuple[Mark, ...]:
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    return a[:n]


@dataclass
class _ListState:
    ordered: bool
    count: int = 0


class _Builder(HTMLParser):
    """Walks safe HTML (tolerating anything else) into ``Block`` values."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.lines: list[list[Run]] = [[]]
        self.marks: list[Mark | None] = []  # None: an <a> without a usable href
        self.lists: list[_ListState] = []
        self.quote = 0
        self.pre = False
        self.pre_text: list[str] = []
        self.bullet = ""

    # -- blocks ----------------------------------------------------------------------

    def _indent(self) -> int:
        return min(len(self.lists), MAX_INDENT)

    def _push(self, block: Block) -> None:
        prev = self.blocks[-1] if self.blocks else None
        tight = bool(prev and prev.indent and block.indent)
        self.blocks.append(replace(block, tight=tight))

    def flush(self) -> None:
        """End the current block, keeping it if it has visible content."""
        if self.pre:
            text = "".join(self.pre_text)
            self.pre_text = []
            text = text[1:] if text.startswith("\n") else text  # HTML drops it too
            rows = text.rstrip("\n").split("\n")
            while rows and not rows[0].strip():
                rows.pop(0)
            if rows:
                pre_lines: tuple[Line, ...] = tuple((Run(row),) if row else () for row in rows)
                self._push(Block(pre_lines, pre=True, quote=self.quote > 0, indent=self._indent()))
            return
        lines = [normalise_line(line) for line in self.lines]
        self.lines = [[]]
        while lines and not lines[0]:
            lines.pop(0)
        while lines and not lines[-1]:
            lines.pop()
        if lines:
            self._push(
                Block(tuple(lines), quote=self.quote > 0, indent=self._indent(), bullet=self.bullet)
            )
            self.bullet = ""

    # -- parser callbacks --------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.pre:
            if tag in ("br", "p", "div"):
                self.pre_text.append("\n")
            return
        if tag in _INLINE_TAGS:
            self.marks.append(Mark(_INLINE_TAGS[tag]))
        elif tag == "a":
            href = safe_href(dict(attrs).get("href") or "")
            self.marks.append(Mark(LINK, href) if href else None)
        elif tag == "br":
            self.lines.append([])
        elif tag in _BLOCK_TAGS:
            self.flush()
        elif tag == "blockquote":
            self.flush()
            self.quote += 1
        elif tag in ("ul", "ol"):
            self.flush()
            self.lists.append(_ListState(ordered=tag == "ol"))
        elif tag == "li":
            self.flush()
            if not self.lists:  # a stray <li>: draw it as a bullet anyway
                self.lists.append(_ListState(ordered=False))
            state = self.lists[-1]
            state.count += 1
            self.bullet = f"{state.count}. " if state.ordered else "• "
        elif tag == "pre":
            self.flush()
            self.pre = True

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _INLINE_TAGS or tag == "a":
            return  # a self-closed style holds no text
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if self.pre:
            if tag == "pre":
                self.flush()
                self.pre = False
            return
        if tag in _INLINE_TAGS or tag == "a":
            self._pop_mark(tag)
        elif tag in _BLOCK_TAGS or tag == "li":
            self.flush()
        elif tag == "blockquote":
            self.flush()
            self.quote = max(0, self.quote - 1)
        elif tag in ("ul", "ol"):
            self.flush()
            if self.lists:
                self.lists.pop()

    def _pop_mark(self, tag: str) -> None:
        kind = LINK if tag == "a" else _INLINE_TAGS[tag]
        for i in range(len(self.marks) - 1, -1, -1):
            mark = self.marks[i]
            if (mark is None and kind == LINK) or (mark is not None and mark.kind == kind):
                del self.marks[i]
                return

    def handle_data(self, data: str) -> None:
        if self.pre:
            self.pre_text.append(data)
            return
        marks: list[Mark] = []
        for mark in self.marks:
            # A link inside a link cannot be drawn anywhere; the outer one wins.
            if mark is None or (mark.kind == LINK and any(m.kind == LINK for m in marks)):
                continue
            if mark not in marks:
                marks.append(mark)
        self.lines[-1].append(Run(data, tuple(marks)))


def parse(safe_html: str) -> list[Block]:
    """Parse safe HTML into blocks. Unknown tags are ignored (their text is kept)."""
    builder = _Builder()
    builder.feed(safe_html)
    builder.close()
    builder.flush()
    return builder.blocks
