"""Telegram's HTML parse mode, as the Bot API checks it (the sandbox's "can't parse entities").

Only the tags Telegram documents are accepted, tags must balance, and the only named
character entities are ``&lt; &gt; &amp; &quot;`` (numeric entities are all fine). The
result is the plain text the user would see, so length limits count what Telegram counts.
"""

from __future__ import annotations

import html
import re

ALLOWED_TAGS = frozenset(
    {
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
        "a", "code", "pre", "blockquote", "tg-emoji",
    }
)  # fmt: skip
NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}

_TAG = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+))?)*)\s*>"
)
_ENTITY = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]*);")


class EntityParseError(ValueError):
    """Telegram refused the text: ``str(exc)`` is the description after the colon."""


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def parse_html(text: str) -> str:
    """Check ``text`` as Telegram's HTML parse mode does and return the visible plain text.

    Raises ``EntityParseError`` with a Telegram-style description on anything Telegram refuses.
    """
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "<":
            m = _TAG.match(text, i)
            if m is None:
                raise EntityParseError(f"Unexpected character at byte offset {_byte_offset(text, i)}")
            closing, name = m.group(1) == "/", m.group(2).lower()
            if closing:
                if not stack:
                    raise EntityParseError(f"Unexpected end tag at byte offset {_byte_offset(text, i)}")
                if stack[-1] != name:
                    raise EntityParseError(
                        f"Unmatched end tag at byte offset {_byte_offset(text, i)}, "
                        f'expected "</{stack[-1]}>", found "</{name}>"'
                    )
                stack.pop()
            else:
                if name not in ALLOWED_TAGS:
                    raise EntityParseError(
                        f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, i)}'
                    )
                stack.append(name)
            i = m.end()
        elif ch == "&":
            m = _ENTITY.match(text, i)
            if m is None:
                raise EntityParseError(f"Unexpected character '&' at byte offset {_byte_offset(text, i)}")
            body = m.group(1)
            if body.startswith("#"):
                out.append(html.unescape(m.group(0)))
            elif body in NAMED_ENTITIES:
                out.append(NAMED_ENTITIES[body])
            else:
                raise EntityParseError(
                    f'Unsupported HTML entity "&{body};" at byte offset {_byte_offset(text, i)}'
                )
            i = m.end()
        elif ch == ">":
            raise EntityParseError(f"Unexpected character '>' at byte offset {_byte_offset(text, i)}")
        else:
            out.append(ch)
            i += 1
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)
