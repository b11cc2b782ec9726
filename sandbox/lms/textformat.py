"""Moodle text formats: what ``format_text`` turns stored raw text into.

Every ``text`` a web-service function returns is HTML. Observed on 4.5: plain text comes
back as ``<p>`` + escaped text; HTML comes back cleaned (no ``<script>``); markdown is
rendered. Moodle's FORMAT_MOODLE keeps (cleaned) HTML and turns newlines into line breaks.
Observed on 4.5 (moodle-4.5-observed.md item 26): a newline comes back as ``<br>``, and
empty text as ``""`` (not ``<p></p>``).
"""

from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt

FORMAT_MOODLE = 0
FORMAT_HTML = 1
FORMAT_PLAIN = 2
FORMAT_MARKDOWN = 4
FORMATS = (FORMAT_MOODLE, FORMAT_HTML, FORMAT_PLAIN, FORMAT_MARKDOWN)

# Raw HTML inside markdown is escaped, as Moodle's markdown filter output is then cleaned.
_markdown = MarkdownIt("commonmark", {"html": False})
_BLOCK_START = re.compile(r"^\s*<(p|div|ul|ol|h[1-6]|blockquote|pre|table)\b", re.IGNORECASE)


def s(text: str) -> str:
    """Moodle's ``s()``: htmlspecialchars with quotes, numeric entities left alone."""
    escaped = (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#039;")
    )
    return re.sub(r"&amp;#(\d+|x[0-9a-fA-F]+);", r"&#\1;", escaped)


def nl2br(text: str) -> str:
    """A line break before each newline, the newline kept: ``<br>`` as 4.5 returns it
    (moodle-4.5-observed.md item 26)."""
    return re.sub(r"(\r\n|\n|\r)", r"<br>\1", text)


def clean_html(html: str) -> str:
    """``clean_text``: drop ``<script>``/``<style>`` with their content and ``on*`` attributes."""
    # HTMLPurifier writes XHTML line breaks; nh3 writes HTML ones.
    return nh3.clean(html, link_rel=None).replace("<br>", "<br />")


def _para(html: str) -> str:
    return html if _BLOCK_START.match(html) else f"<p>{html}</p>"


def format_text(text: str | None, textformat: int) -> str:
    """The HTML Moodle 4.5 returns for raw ``text`` stored with ``textformat``."""
    if not text:
        return ""  # empty text stays empty (moodle-4.5-observed.md item 26)
    if textformat == FORMAT_PLAIN:
        return _para(nl2br(s(text).replace("  ", "&nbsp; ")))
    if textformat == FORMAT_HTML:
        return _para(clean_html(text))
    if textformat == FORMAT_MARKDOWN:
        return clean_html(_markdown.render(text)).strip()
    # FORMAT_MOODLE (and anything unknown, as Moodle falls back to it).
    return _para(nl2br(clean_html(text)))


def html_to_text(html: str) -> str:
    """A rough ``html_to_text`` for ``fullmessage`` of HTML sends."""
    text = re.sub(r"<br\s*/?>", "\n", html, flags=re.IGNORECASE)
    text = re.sub(r"</p\s*>", "\n\n", text, flags=re.IGNORECASE)
    text = nh3.clean(text, tags=set())
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&").strip()
