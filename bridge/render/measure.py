"""How each platform measures a message's length, applied to the rendered markup.

The splitter cuts chunks by the measure an adapter declares in its ``Capabilities``
(``measure`` beside ``max_text``), so a chunk that fits here fits there:

- Discord and Slack count characters of the text (``content``; a section's ``text``).
- Telegram counts characters after entity parsing; counted here in UTF-16 code units
  (an emoji is two), a safety margin over any way of counting characters.
- Teams limits the serialized activity (about 28 KB, everything included); the text's
  share is counted as the bytes of its JSON string with non-ASCII escaped (``\\uXXXX``,
  12 bytes for an emoji), an upper bound on any JSON encoding of it.
"""

from __future__ import annotations

import html
import json
import re

_TAG = re.compile(r"<[^>]*>")


def characters(text: str) -> int:
    """Code points: Discord's ``content`` and Slack's text limits."""
    return len(text)


def utf16_units(text: str) -> int:
    """UTF-16 code units (two for a character outside the BMP)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def telegram_length(telegram_html: str) -> int:
    """Telegram HTML's length after entity parsing (tags dropped, entities decoded), in
    UTF-16 units. Exact for the renderer's output, whose text never holds a raw ``<``."""
    return utf16_units(html.unescape(_TAG.sub("", telegram_html)))


def json_bytes(text: str) -> int:
    """Bytes of ``text`` as a JSON string, quotes included, non-ASCII escaped."""
    return len(json.dumps(text))
