"""Safe HTML: the bridge's neutral text format, and the ways into and out of it.

Safe HTML is a small HTML subset: ``p br b i u s code pre blockquote ul ol li`` and
``a href`` with http, https or mailto targets. LMS text (always HTML, see
moodle-4.5-observed.md item 9) enters through ``sanitize_lms_html``; the bridge's own words
through ``escape`` plus tags it writes on purpose.
"""

from __future__ import annotations

import html
import re
import unicodedata
from html.parser import HTMLParser

import nh3

from bridge.render.document import safe_href

# What nh3 lets through to the converter below: the safe subset plus the structures the
# converter rewrites (images, headings, tables, generic blocks). Everything else is
# unwrapped (text kept) by nh3; script and style lose their content too.
_NH3_TAGS = {
    "p", "br", "b", "strong", "i", "em", "u", "ins", "s", "del", "strike", "code", "pre",
    "blockquote", "ul", "ol", "li", "a", "img", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "div", "section",
    "article", "header", "footer", "aside", "figure", "figcaption", "address", "hr",
    "dl", "dt", "dd", "span", "tt", "kbd", "samp",
}  # fmt: skip
_NH3_DROP_CONTENT = {"script", "style", "template", "noscript", "iframe", "object"}
# Every HTML element name. Any other tag (SVG and MathML names such as <text> or <mi>, custom
# elements, typos) is renamed <span> before nh3 sees it: the parser would otherwise treat it
# as foreign content and nh3 drop the text inside, which the author wrote.
_HTML_NAMES = frozenset(
    """a abbr acronym address applet area article aside audio b base basefont bdi bdo bgsound big
    blink blockquote body br button canvas caption center cite code col colgroup data datalist dd
    del details dfn dialog dir div dl dt em embed fieldset figcaption figure font footer form frame
    frameset h1 h2 h3 h4 h5 h6 head header hgroup hr html i iframe image img input ins isindex kbd
    keygen label legend li link listing main map mark marquee menu menuitem meta meter multicol nav
    nextid nobr noembed noframes noscript object ol optgroup option output p param picture plaintext
    pre progress q rb rp rt rtc ruby s samp script search section select slot small source spacer
    span strike strong style sub summary sup table tbody td template textarea tfoot th thead time
    title tr track tt u ul var video wbr xmp""".split()
)
_TAG_NAME = re.compile(r"<(/?)([A-Za-z][^\s/>]*)")

_INLINE = {
    "b": "b", "strong": "b", "i": "i", "em": "i", "u": "u", "ins": "u",
    "s": "s", "del": "s", "strike": "s", "code": "code", "tt": "code", "kbd": "code", "samp": "code",
}  # fmt: skip
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_BLOCKS = frozenset(
    {"p", "div", "section", "article", "header", "footer", "aside", "figure", "figcaption",
     "address", "hr", "dl", "dt", "dd", "caption"}
)  # fmt: skip
_WS = re.compile(r"[ \t\n\r\f]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def _rename_foreign(match: re.Match[str]) -> str:
    return match.group(0) if match.group(2).lower() in _HTML_NAMES else f"<{match.group(1)}span"


def _prepare(html_text: str) -> str:
    """The LMS text as nh3 should see it: lone surrogates replaced, a byte-order mark at the
    very start dropped, every other U+FEFF written as a reference (the HTML parser drops a
    raw one in places, e.g. after a <script>), foreign tags renamed <span>."""
    text = replace_surrogates(html_text).removeprefix("\ufeff")
    if "\ufeff" in text:
        text = text.replace("\ufeff", "&#xfeff;")
    return _TAG_NAME.sub(_rename_foreign, text)


def picture(alt: str) -> str:
    """How an image with alt text reads in chat."""
    return f"[picture: {alt}]"


def replace_surrogates(text: str) -> str:
    """``text`` with every lone surrogate (a code point UTF-8 cannot encode, which a broken
    LMS or proxy can send as a JSON ``\\udXXX`` escape) replaced by U+FFFD."""
    return _SURROGATE.sub(REPLACEMENT, text) if _SURROGATE.search(text) else text


class _Converter(HTMLParser):
    """Rewrites nh3's well-formed output into the safe subset.

    The output is written only from parsed events: text is re-escaped and only subset tags
    are emitted, with inline tags closed and reopened around block boundaries, so the
    result nests properly whatever the input looked like.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        # Open inline tags, outermost first: (name, start tag); a link whose target was
        # dropped keeps an entry with an empty start tag so that its end tag pops it.
        self.inline: list[tuple[str, str]] = []
        self.containers: list[str] = []  # "blockquote", "ul", "ol", "li"
        self.para = False  # a <p> is open
        self.pre = False
        self.pre_start = 0  # where the open <pre>'s text starts in ``out``
        self.table_depth = 0
        self.cells = 0  # cells written in the current table row
        self.heading = False
        self.li_content = False  # the open <li> has text since its start or last break

    # -- helpers ------------------------------------------------------------------------

    def _open_inline(self, tags: list[tuple[str, str]] | None = None) -> None:
        for _name, start in self.inline if tags is None else tags:
            self.out.append(start)

    def _close_inline(self, tags: list[tuple[str, str]] | None = None) -> None:
        for name, start in reversed(self.inline if tags is None else tags):
            if start:
                self.out.append(f"</{name}>")

    def _writing(self) -> bool:
        """Inline tags are written now (a paragraph or list item is open)."""
        return self.para or self._in_li()

    def _in_li(self) -> bool:
        return bool(self.containers) and self.containers[-1] == "li"

    def _boundary(self) -> None:
        """End the paragraph (or, inside a list item, the line) the text was in."""
        if self.table_depth:
            self._text(" ")
        elif self._in_li():
            if self.li_content:
                self._close_inline()
                self.out.append("<br>")
                self._open_inline()
                self.li_content = False
        elif self.para:
            self._close_inline()
            if self.heading:
                self.out.append("</b>")
            self.out.append("</p>")
            self.para = False

    def _ensure_para(self) -> None:
        if self.para or self._in_li() or self.pre:
            return
        if self.containers and self.containers[-1] in ("ul", "ol"):
            self.containers.append("li")  # text loose in a list: give it an item
            self.out.append("<li>")
            self._open_inline()
            return
        self.out.append("<p>")
        if self.heading:
            self.out.append("<b>")
        self._open_inline()
        self.para = True

    def _text(self, text: str) -> None:
        if not self.pre:
            text = _WS.sub(" ", text.replace("\u00a0", " "))
            if not text.strip() and not self.para and not self._in_li():
                return  # white space between blocks
        self._ensure_para()
        self.out.append(html.escape(text, quote=False))
        if text.strip():
            self.li_content = True

    # -- parser callbacks -----------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.pre:
            alt = (dict(attrs).get("alt") or "").strip() if tag == "img" else ""
            if tag == "br":
                self.out.append("\n")
            elif alt:
                self.out.append(html.escape(picture(alt), quote=False))
            return
        attr = dict(attrs)
        if tag in _INLINE:
            self._push_inline(_INLINE[tag])
        elif tag == "a":
            href = safe_href(attr.get("href") or "")
            if any(name == "a" and start for name, start in self.inline):
                href = None  # links do not nest; the outer one wins
            self._push_inline("a", f'<a href="{html.escape(href, quote=True)}">' if href else "")
        elif tag == "img":
            alt = (attr.get("alt") or "").strip()
            if alt:
                self._text(picture(alt))
        elif tag == "br":
            if self.table_depth:
                self._text(" ")
            elif self._writing():
                self.out.append("<br>")
                self.li_content = False
        elif tag in ("td", "th"):
            if self.cells:
                self._text(" | ")
            self.cells += 1
        elif tag == "tr":
            if self.cells and self.para:
                self._close_inline()
                self.out.append("<br>")
                self._open_inline()
            self.cells = 0
        elif tag == "table":
            self._boundary()
            self.table_depth += 1
            self.cells = 0
        elif self.table_depth:
            return  # every other block inside a table flattens into its line
        elif tag in _HEADINGS:
            self._boundary()
            if self._in_li():
                self._push_inline("b")
            else:
                self.heading = True
        elif tag in _BLOCKS:
            self._boundary()
        elif tag == "blockquote" and not self._in_li():
            self._boundary()
            self.containers.append("blockquote")
            self.out.append("<blockquote>")
        elif tag in ("ul", "ol"):
            if self._in_li():
                self._close_inline()  # reopened after the nested list ends
            else:
                self._boundary()
            self.containers.append(tag)
            self.out.append(f"<{tag}>")
        elif tag == "li":
            self._boundary()
            if self._in_li():
                self._end_li()
            if not self.containers or self.containers[-1] not in ("ul", "ol"):
                self.containers.append("ul")
                self.out.append("<ul>")
            self.containers.append("li")
            self.out.append("<li>")
            self._open_inline()
            self.li_content = False
        elif tag == "pre":
            self._boundary()
            if self._in_li() or self.table_depth:
                return
            self.pre = True
            self.pre_start = len(self.out)

    def _push_inline(self, name: str, start: str | None = None) -> None:
        entry = (name, f"<{name}>" if start is None else start)
        self.inline.append(entry)
        if self._writing():
            self._open_inline([entry])

    def _end_li(self) -> None:
        self._close_inline()
        self.containers.pop()
        self.out.append("</li>")

    def handle_endtag(self, tag: str) -> None:
        if self.pre:
            if tag == "pre":
                self._end_pre()
            return
        if tag in _INLINE or tag == "a":
            self._pop_inline("a" if tag == "a" else _INLINE[tag])
        elif tag == "table":
            self.table_depth = max(0, self.table_depth - 1)
            if not self.table_depth:
                self._boundary()
        elif self.table_depth:
            return
        elif tag in _HEADINGS:
            if self.heading:
                self._boundary()
                self.heading = False
            elif self._in_li():
                self._pop_inline("b")
        elif tag in _BLOCKS:
            self._boundary()
        elif tag == "li" and self._in_li():
            self._end_li()
        elif tag in ("ul", "ol") and tag in self.containers:
            while self.containers[-1] != tag:
                self._close_container()
            self.containers.pop()
            self.out.append(f"</{tag}>")
            if self._in_li():
                self._open_inline()
        elif tag == "blockquote" and "blockquote" in self.containers and not self._in_li():
            self._boundary()
            while self.containers[-1] != "blockquote":
                self._close_container()
            self.containers.pop()
            self.out.append("</blockquote>")

    def _end_pre(self) -> None:
        """Write the <pre> block, without its leading and trailing blank lines (HTML drops
        one leading newline anyway), or nothing if it holds only white space."""
        body = "".join(self.out[self.pre_start :])
        del self.out[self.pre_start :]
        self.pre = False
        lines = body.rstrip().split("\n")
        while lines and not lines[0].strip():
            lines.pop(0)
        if lines:
            self.out.append("<pre>" + "\n".join(lines) + "</pre>")

    def _close_container(self) -> None:
        if self._in_li():
            self._end_li()
        else:
            self.out.append(f"</{self.containers.pop()}>")

    def _pop_inline(self, name: str) -> None:
        for i in range(len(self.inline) - 1, -1, -1):
            if self.inline[i][0] == name:
                inner = self.inline[i + 1 :]
                if self._writing():
                    # Close what is inside it and it, then reopen what was inside.
                    self._close_inline(self.inline[i:])
                    self._open_inline(inner)
                del self.inline[i]
                return

    def handle_data(self, data: str) -> None:
        self._text(data)

    def result(self) -> str:
        """The converted text, every open element closed."""
        self._boundary()
        if self.pre:
            self._end_pre()
        while self.containers:
            self._close_container()
        return "".join(self.out)


def sanitize_lms_html(html_text: str) -> str:
    """LMS HTML -> safe HTML.

    Keeps ``p br b strong i em u s del code pre blockquote ul ol li`` (written in their
    canonical forms ``b i u s``) and ``a[href]`` with http, https or mailto targets; a link
    with any other target loses the link and keeps its text. Total over ``str``: a lone
    surrogate becomes U+FFFD. Script and style content is dropped entirely; the text of
    any other element is kept, foreign (SVG, MathML) and unknown ones included. Images
    become "[picture: alt]" (inside <pre> too), a U+FEFF is dropped only as a byte-order
    mark at the very start, headings bold paragraphs and table rows
    lines (cells joined by " | "). Entities are decoded and written back only as ``&amp;
    &lt; &gt;``; no-break spaces become spaces.
    """
    cleaned = nh3.clean(
        _prepare(html_text),
        tags=_NH3_TAGS,
        clean_content_tags=_NH3_DROP_CONTENT,
        attributes={"a": {"href"}, "img": {"alt"}},
        url_schemes={"http", "https", "mailto"},
        link_rel=None,
        strip_comments=True,
    )
    converter = _Converter()
    converter.feed(cleaned)
    converter.close()
    return converter.result()


def escape(text: str) -> str:
    """Plain text -> safe HTML text: ``& < >`` escaped, line breaks as ``<br>``."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return html.escape(text, quote=False).replace("\n", "<br>")


def chat_text_to_lms(text: str) -> str:
    """What a person typed in chat -> the text the bridge sends to the LMS as
    ``textformat=2`` (plain; the LMS escapes it itself).

    Line endings (and Unicode line/paragraph separators) become ``\\n``; control
    characters other than newline and tab are removed (so are lone surrogates, which
    cannot be sent as UTF-8); trailing white space is trimmed from every line and blank
    lines from both ends.
    """
    for ending in ("\r\n", "\r", "\u2028", "\u2029"):
        text = text.replace(ending, "\n")
    kept = "".join(
        ch
        for ch in text
        if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs")
    )
    lines = [line.rstrip() for line in kept.split("\n")]
    return "\n".join(lines).strip("\n")


def utf8_len(text: str) -> int:
    """Length in UTF-8 bytes: how the LMS counts its 4096 limit."""
    return len(text.encode("utf-8", "surrogatepass"))
