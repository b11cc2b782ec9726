"""Block Kit for a post: the text section, an optional reason input and the buttons."""

from __future__ import annotations

from typing import Any

from bridge.model import Action, Post
from bridge.render.slack import escape_mrkdwn

REASON_BLOCK = "pluto_reason"
REASON_INPUT = "reason"
LINK_VALUE = "pluto:link"  # value of URL buttons: Slack reports their clicks, we ignore them
MAX_SECTION_TEXT = 3000
MAX_BUTTON_LABEL = 75


def build_blocks(text: str, actions: tuple[Action, ...]) -> list[dict[str, Any]]:
    """Block Kit for a post: a mrkdwn section with the text, a reason input when an action
    needs one, and an actions block of buttons."""
    blocks: list[dict[str, Any]] = []
    if text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:MAX_SECTION_TEXT]}})
    if any(a.needs_reason and a.url is None for a in actions):
        blocks.append(
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": "Reason"},
                "element": {"type": "plain_text_input", "action_id": REASON_INPUT, "multiline": True},
            }
        )
    if actions:
        blocks.append(
            {"type": "actions", "block_id": "pluto_actions", "elements": [_button(a) for a in actions]}
        )
    return blocks


def _button(action: Action) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action.id,
        "text": {"type": "plain_text", "text": action.label[:MAX_BUTTON_LABEL] or "?", "emoji": True},
        "value": LINK_VALUE if action.url else action.id,
    }
    if action.style in ("primary", "danger"):
        button["style"] = action.style
    if action.url:
        button["url"] = action.url
    return button


def notification_text(post: Post) -> str:
    """The message's top-level ``text`` (notifications, screen readers): the plain-text
    fallback with Slack's three entities escaped, since Slack parses ``<!channel>``,
    ``<@U1>`` and ``<url|label>`` in this field too; the rendered text when there is none."""
    return escape_mrkdwn(post.fallback) if post.fallback else post.text
