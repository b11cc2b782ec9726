"""The LMS's refusal texts, retold with the name the bridge knows.

Moodle 4.5's refusals name nobody (moodle-4.5-observed.md item 25): "You can't message this
user due to their message preferences. ..." would leave a person who writes to several
people from one chat unsure whom it concerns. The bridge knows whom it sent to, so the
reason it shows says so; any text it does not recognise is shown as the LMS wrote it.
"""

from __future__ import annotations

import re

_PREFERENCES = "You can't message this user due to their message preferences"
_NO_SUCH_USER = re.compile(r"You cannot send a message to a user ID \((\d+)\) that doesn't exist", re.I)
_NOT_IN_CONVERSATION = re.compile(r"User \d+ cannot send a message to conversation \d+", re.I)
_TOTARA_BLOCKED = "This user has blocked you from sending messages to them."


def explain_refusal(reason: str, recipient: str | None) -> str:
    """Plain text saying why the LMS refused a message to ``recipient`` (a person's name, or a
    group conversation's), built from the LMS's ``reason``."""
    who = recipient or "This person"
    if reason.startswith(_PREFERENCES):
        return (
            f"{who} accepts messages from contacts only, or has blocked you. "
            "A contact request in Pluto, once accepted, lets your messages through."
        )
    if _NO_SUCH_USER.search(reason):
        return f"{who} no longer has a Pluto account."
    if _NOT_IN_CONVERSATION.search(reason):
        where = recipient or "this conversation"
        return f"you cannot write in {where} (you may no longer be a member, or it is closed)."
    if reason.strip() == _TOTARA_BLOCKED:
        return f"{who} has blocked you from sending them messages."
    return reason
