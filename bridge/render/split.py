"""Cutting a rendered message into chunks that each fit a platform's length limit.

Chunks are cut at the most sensible boundary: between blocks (paragraphs, list items),
then between lines, then after a sentence, then between words, then between characters
(never inside a user-perceived character: a base with its combining marks, an emoji
sequence joined by ZWJ, a flag), and only as a last resort inside one. A coarser boundary
always wins: a finer cut happens only inside a unit that is too long on its own.

Every chunk is rendered from its own blocks, so its markup is complete by construction:
tags balanced, a cut ``pre`` block re-opened in the next chunk, styles re-opened where a
line was cut. Lengths are measured on the rendered markup by the platform's own measure
(``bridge.render.measure``), so every chunk is within the limit as the platform counts it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from bridge.render.document import Block, Line, Run, line_text, normalise_line, slice_line
from bridge.render.renderer import Renderer

MIN_LIMIT = 64  # room for the widest block decoration plus one escaped character
_SENTENCE_END = re.compile(r"[.!?\u2026\u3002\uff01\uff1f][\"'\u00bb\u201d\u2019)\]]*(?=\s)")
_SPACE = re.compile(r"\s")
_ZWJ = "\u200d"


def _is_regional(ch: str) -> bool:
    return "\U0001f1e6" <= ch <= "\U0001f1ff"


def _extends(ch: str) -> bool:
    """Whether ``ch`` belongs to the character before it (grapheme extension)."""
    if ch == _ZWJ or "\ufe00" <= ch <= "\ufe0f" or "\U000e0020" <= ch <= "\U000e007f":
        return True
    if "\U0001f3fb" <= ch <= "\U0001f3ff" or "\U000e0100" <= ch <= "\U000e01ef":
        return True
    return unicodedata.category(ch) in ("Mn", "Me", "Mc")


def is_grapheme_boundary(text: str, i: int) -> bool:
    """Whether cutting ``text`` before index ``i`` keeps every perceived character whole
    (a close approximation of Unicode's extended grapheme clusters)."""
    if i <= 0 or i >= len(text):
        return True
    before, ch = text[i - 1], text[i]
    if before == "\r" and ch == "\n":
        return False
    if _extends(ch) or before == _ZWJ:
        return False
    if _is_regional(before) and _is_regional(ch):
        run = 0
        j = i - 1
        while j >= 0 and _is_regional(text[j]):
            run += 1
            j -= 1
        return run % 2 == 0  # flags are pairs: cut only between pairs
    return True


def choose_cut(text: str, start: int, end: int) -> int:
    """The best place in ``(start, end]`` to end a piece of ``text`` that starts at
    ``start`` and may run at most to ``end``: after a sentence, else before white space,
    else between perceived characters, else ``end`` itself."""
    if end >= len(text):
        return len(text)
    window = text[start : end + 1]
    best = 0
    for match in _SENTENCE_END.finditer(window):
        best = match.end()
    if best > 0:
        return start + best
    for i in range(len(window) - 1, 0, -1):
        if window[i].isspace():
            return start + i
    for i in range(end, start, -1):
        if is_grapheme_boundary(text, i):
            return i
    return end


@dataclass(frozen=True, slots=True)
class _Fragment:
    origin: int  # the source block; fragments of one block merge back in a chunk
    block: Block
    size: int  # rendered length on its own


class _Packer:
    """Fills chunks greedily with fragments, and renders each chunk when it is full."""

    def __init__(self, renderer: Renderer, limit: int, measure: Callable[[str], int]) -> None:
        self.renderer = renderer
        self.limit = limit
        self.size_of = measure
        self.chunks: list[str] = []
        self.current: list[_Fragment] = []
        self.size = 0

    def measure(self, block: Block) -> int:
        return self.size_of(self.renderer.render([block]))

    def add(self, fragment: _Fragment) -> bool:
        """Append ``fragment`` to the current chunk if it surely fits; say whether it did."""
        cost = fragment.size
        if self.current:
            if self.current[-1].origin == fragment.origin:
                cost += self.size_of(self.renderer.line_sep)
            else:
                cost += self.size_of(self.renderer.joint(fragment.block.tight))
        if self.size + cost > self.limit:
            return False
        self.current.append(fragment)
        self.size += cost
        return True

    def flush(self) -> None:
        """Render the current chunk (fragments of one block rejoined) and start a new one."""
        if not self.current:
            return
        blocks: list[Block] = []
        for i, frag in enumerate(self.current):
            if i and self.current[i - 1].origin == frag.origin:
                blocks[-1] = replace(blocks[-1], lines=blocks[-1].lines + frag.block.lines)
            else:
                blocks.append(frag.block)
        text = self.renderer.render(blocks)
        if self.size_of(text) > self.limit:
            # The sizes added are upper bounds, so this is not expected; stay within the
            # limit anyway with one chunk per fragment (each fits on its own).
            pieces = [self.renderer.render([f.block]) for f in self.current]
        else:
            pieces = [text]
        self.chunks.extend(p for p in pieces if p.strip())
        self.current = []
        self.size = 0


def _piece(block: Block, lines: tuple[Line, ...], first: bool) -> Block:
    """Part of ``block``: its bullet stays with its first line."""
    if first:
        return replace(block, lines=lines)
    return replace(block, lines=lines, bullet="", tight=True)


def split_blocks(
    blocks: Sequence[Block], renderer: Renderer, limit: int, measure: Callable[[str], int] = len
) -> list[str]:
    """Render ``blocks`` with ``renderer`` as chunks of at most ``limit`` each (as ``measure``
    counts the rendered markup), in order, none empty."""
    if limit < MIN_LIMIT:
        raise ValueError(f"limit {limit} is below the minimum of {MIN_LIMIT}")
    # Most items fit in one chunk: render them once, not once per block to measure and
    # again to join (the packer's sizes are upper bounds, so it may cut what fits). Text
    # longer than the limit cannot fit (no markup measures less than its characters).
    if sum(len(run.text) for block in blocks for line in block.lines for run in line) <= limit:
        whole = renderer.render(blocks)
        if measure(whole) <= limit:
            return [whole] if whole.strip() else []
    packer = _Packer(renderer, limit, measure)
    for origin, block in enumerate(blocks):
        fragment = _Fragment(origin, block, packer.measure(block))
        if packer.add(fragment):
            continue
        packer.flush()
        if not packer.add(fragment):
            _split_block(packer, origin, block)
    packer.flush()
    return packer.chunks


def _split_block(packer: _Packer, origin: int, block: Block) -> None:
    for i, line in enumerate(block.lines):
        piece = _piece(block, (line,), first=i == 0)
        fragment = _Fragment(origin, piece, packer.measure(piece))
        if packer.add(fragment):
            continue
        packer.flush()
        if not packer.add(fragment):
            _split_line(packer, origin, block, line, first=i == 0)


def _split_line(packer: _Packer, origin: int, block: Block, line: Line, first: bool) -> None:
    """Cut one line that is too long on its own; each piece but the last is a chunk."""
    text = line_text(line)
    start = 0
    while start < len(text):

        def piece_at(
            end: int, start: int = start, first: bool = first, line: Line = line, block: Block = block
        ) -> Block:
            runs = slice_line(line, start, end)
            return _piece(block, (runs if block.pre else normalise_line(runs),), first)

        end = _longest_fit(packer, piece_at, start, len(text))
        if end == start:
            if any(run.marks for run in line):
                # Not even one character fits beside its markup (a link target longer
                # than the limit, say): go on without the marks.
                line = tuple(Run(run.text) for run in line)
                continue
            if block.quote or block.indent or block.bullet:
                # Nor beside the quote and list decoration (a character Teams escapes to 12
                # bytes in a nested quoted list at the least limit): keep the text, drop them.
                block = replace(block, quote=False, indent=0, bullet="")
                continue
            raise ValueError(f"limit {packer.limit} cannot hold a single character")
        cut = end if end == len(text) else choose_cut(text, start, end)
        piece = piece_at(cut)
        size = packer.measure(piece)
        if size > packer.limit:  # the measure is not quite monotonic: trust the fitted end
            cut, piece = end, piece_at(end)
            size = packer.measure(piece)
        packer.add(_Fragment(origin, piece, size))
        if cut < len(text):
            packer.flush()
        start = cut
        if not block.pre:
            while start < len(text) and text[start].isspace():
                start += 1
        first = False


def _longest_fit(packer: _Packer, piece_at: Callable[[int], Block], start: int, stop: int) -> int:
    """The largest ``end`` in ``[start, stop]`` whose piece fits (binary search; every
    character renders to at least one, so no fitting piece is longer than the limit)."""
    hi = min(stop, start + packer.limit)
    if packer.measure(piece_at(hi)) <= packer.limit:
        return hi
    lo = start
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if packer.measure(piece_at(mid)) <= packer.limit:
            lo = mid
        else:
            hi = mid
    return lo
