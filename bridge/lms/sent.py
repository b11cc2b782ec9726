"""Whether words a person wrote in chat are already in a Pluto conversation.

Moodle does not de-duplicate sends. A send the bridge made may have reached Pluto while
its answer never came back (the process died waiting) or has not come back yet; such a
message is found by its author and words, so it is neither sent twice nor relayed back
to the chat it came from.
"""

from __future__ import annotations

import re

from bridge.lms.api import ConversationMessage, LmsApi
from bridge.render import chat_text_to_lms, to_plain

RECENT = 50  # newest messages read to look for a send
SLACK = 60  # seconds before the chat event that still count (clocks differ, Moodle rounds)


def _comparable(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def same_words(lms_text: str, chat_text: str) -> bool:
    """Whether the LMS message ``lms_text`` (Moodle's HTML) is what ``chat_text`` (as
    written in chat) became, a quote line the bridge put on top of a reply aside."""
    have, want = _comparable(to_plain(lms_text)), _comparable(chat_text_to_lms(chat_text))
    return have == want or (have.startswith(">") and have.endswith(" " + want))


async def find_sent(
    api: LmsApi, token: str, userid: int, conversation_id: int, chat_text: str, since: float
) -> ConversationMessage | None:
    """The message of ``userid`` in the conversation carrying ``chat_text``, written no
    earlier than a minute before ``since`` (when the chat event arrived), if any."""
    # The newest first, without ``timefrom``: with one, Moodle holds back the messages of
    # its current second (moodle-4.5-observed.md item 5), and after a quick restart the
    # interrupted send can be one of them. Found missing, it would be sent twice.
    messages, _ = await api.conversation_messages(token, userid, conversation_id, timefrom=0, limit=RECENT, newest=True)
    earliest = max(0, int(since) - SLACK)
    if len(messages) == RECENT and messages[0].timecreated >= earliest:
        # More than the window since then: the rest up to the previous second as well.
        older, _ = await api.conversation_messages(token, userid, conversation_id, earliest)
        messages = older + messages
    return next(
        (m for m in messages if m.timecreated >= earliest and m.useridfrom == userid and same_words(m.text, chat_text)),
        None,
    )
