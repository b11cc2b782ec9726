"""Every notice the bridge shows a person, worded once.

Notices are safe HTML; where a notice names a command, it is written the way the
person's platform has them typed (``Profile.command``). Adapters never word notices.
"""

from __future__ import annotations

FAILED = "Something went wrong on the bridge while handling that. Please try again."


def failed_plain() -> str:
    """The core failed on what the person did: plain words, valid in every markup."""
    return FAILED


def failed() -> str:
    """The core failed on what the person did (HTML)."""
    return f"<p>{FAILED}</p>"
