"""Links that could disguise their target: a label that reads as another address.

``<a href="https://evil.example/phish">https://pluto.example/login</a>`` shows the Pluto
address and leads elsewhere. Every markup that hides the target behind its label draws the
target's host beside such a label (``https://pluto.example/login (evil.example)``).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# Something a reader takes for an address: a URL, or a dotted name ending in a word of two
# or more letters (``pluto.example``, or one spelt with a Cyrillic "o" look-alike), or an IPv4;
# whatever follows it does not matter ("pluto.example0" still reads as Pluto's address).
_ADDRESS = re.compile(
    r"(?:[^\W\d_][\w+.-]*://)?(?:[^\s/@:]*@)?((?:[\w-]+\.)+[^\W\d_]{2,}|\d{1,3}(?:\.\d{1,3}){3})",
    re.IGNORECASE,
)


def target_host(href: str) -> str:
    """The host a link leads to (the domain of a mailto address), lower case."""
    try:
        parts = urlsplit(href.strip())
        if parts.scheme.lower() == "mailto":
            return parts.path.rpartition("@")[2].split("?")[0].lower()
        return (parts.hostname or "").lower()
    except ValueError:
        return ""


def _same_site(shown: str, host: str) -> bool:
    shown = shown.lower().rstrip(".")
    return shown == host or host.endswith("." + shown) or shown.endswith("." + host)


def disguised_host(label: str, href: str) -> str | None:
    """The target's host when ``label`` shows an address on another host, else None."""
    host = target_host(href)
    if not host:
        return None
    for match in _ADDRESS.finditer(label):
        if not _same_site(match.group(1), host):
            return host
    return None
