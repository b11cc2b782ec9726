"""Sending: one-to-one (refusals inline) and into a conversation (refusals thrown)."""

from __future__ import annotations

from typing import Any

from .errors import message_too_long, messaging_disabled, sentence
from .params import ALPHANUMEXT, Int, List, Str, Struct, optional
from .registry import MODERN, Ctx
from .state import MESSAGE_MAX_LENGTH, State
from .textformat import FORMATS, format_text


def too_long(text: str) -> bool:
    """Moodle counts bytes of the raw text (PHP ``strlen``)."""
    return len(text.encode("utf-8")) > MESSAGE_MAX_LENGTH


def send_instant(
    st: State, sender: int, touserid: int, text: str, textformat: int, clientmsgid: str | None = None
) -> dict[str, Any]:
    """One ``send_instant_messages`` item: sent, or ``msgid -1`` with the reason."""
    if not st.config["messaging"]:
        raise messaging_disabled()
    result: dict[str, Any] = {"msgid": -1}
    if clientmsgid is not None:
        result["clientmsgid"] = clientmsgid
    recipient = st.users.get(touserid)
    error: str | None = None
    # Moodle's exact texts, naming nobody (moodle-4.5-observed.md item 25).
    if recipient is None:
        error = f"You cannot send a message to a user ID ({touserid}) that doesn't exist."
    elif too_long(text):
        error = "The message is longer than the maximum allowed."
    elif not st.can_send_message(touserid, sender):
        error = "You can't message this user due to their message preferences. Try adding them as a contact."
    if error is not None:
        result["errormessage"] = error
        result["candeletemessagesforallusers"] = False
        return result
    conv = st.get_or_create_individual(sender, touserid)
    msg = st.add_message(conv, sender, text, textformat)
    result |= {
        "msgid": msg.id,
        "text": format_text(msg.text, msg.textformat),
        "timecreated": msg.timecreated,
        "conversationid": conv.id,
        "useridfrom": sender,
        "candeletemessagesforallusers": False,
    }
    return result


def send_to_conversation(
    st: State, sender: int, conversationid: int, text: str, textformat: int
) -> dict[str, Any]:
    """One ``send_messages_to_conversation`` item; throws when not allowed (observed 5c)."""
    if not st.config["messaging"]:
        raise messaging_disabled()
    conv = st.conversations.get(conversationid)
    if conv is None or not st.can_post_to_conversation(sender, conv):
        raise sentence(f"User {sender} cannot send a message to conversation {conversationid}")
    if too_long(text):
        raise message_too_long()
    msg = st.add_message(conv, sender, text, textformat)
    return {
        "id": msg.id,
        "useridfrom": sender,
        "text": format_text(msg.text, msg.textformat),
        "timecreated": msg.timecreated,
    }


_TEXTFORMAT = Int(0)


@MODERN.register(
    "core_message_send_instant_messages",
    messages=List(
        Struct(
            {
                "touserid": Int(),
                "text": Str(),
                "textformat": _TEXTFORMAT,
                "clientmsgid": optional(Str(pattern=ALPHANUMEXT)),
            }
        )
    ),
)
def send_instant_messages(ctx: Ctx, p: dict[str, Any]) -> list[dict[str, Any]]:
    """Send one-to-one messages as the token user; each refusal is an inline ``msgid -1``."""
    ctx.require_messaging()
    return [
        send_instant(
            ctx.state,
            ctx.userid,
            m["touserid"],
            m["text"],
            m["textformat"] if m["textformat"] in FORMATS else 0,
            m.get("clientmsgid"),
        )
        for m in p["messages"]
    ]


@MODERN.register(
    "core_message_send_messages_to_conversation",
    conversationid=Int(),
    messages=List(Struct({"text": Str(), "textformat": _TEXTFORMAT})),
)
def send_messages_to_conversation(ctx: Ctx, p: dict[str, Any]) -> list[dict[str, Any]]:
    """Send messages into a conversation as the token user."""
    ctx.require_messaging()
    return [
        send_to_conversation(
            ctx.state,
            ctx.userid,
            p["conversationid"],
            m["text"],
            m["textformat"] if m["textformat"] in FORMATS else 0,
        )
        for m in p["messages"]
    ]
