"""Adaptive Cards and message Activities for a post (HTML text, actions as a card)."""

from __future__ import annotations

from typing import Any

from microsoft_agents.activity import Activity, ActivityTypes, Attachment

from bridge.model import Post
from bridge.render.document import BOLD, CODE, ITALIC, LINK, STRIKE, UNDERLINE, Run, line_text, parse

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_VERB = "pluto"
REASON_INPUT_ID = "reason"
REASON_MAX_CHARS = 1000
SUMMARY_CHARS = 200
_STYLE = {"primary": "positive", "danger": "destructive"}


# --- cards ---------------------------------------------------------------------------


def build_card(post: Post, *, with_text: bool) -> dict[str, Any]:
    """The Adaptive Card 1.5 for ``post``: ``Action.Execute`` per action (verb ``pluto``,
    data ``{"action": id}``), ``Action.OpenUrl`` for links, and an ``Input.Text`` for the
    reason when an action takes one. The reason stays optional, as Totara's own reason box
    is (domain 3.2); actions that take none (Dismiss) do not gather it. ``with_text`` draws
    the post's text in the card body (cards that replace a pressed card in an invoke
    response)."""
    body: list[dict[str, Any]] = card_text(post.text) if with_text else []
    asks_reason = any(a.needs_reason and not a.url for a in post.actions)
    if asks_reason:
        body.append(
            {
                "type": "Input.Text",
                "id": REASON_INPUT_ID,
                "label": "Reason",
                "placeholder": "Reason for your decision (optional)",
                "isMultiline": True,
                "maxLength": REASON_MAX_CHARS,
            }
        )
    actions: list[dict[str, Any]] = []
    for action in post.actions:
        item: dict[str, Any]
        if action.url:
            item = {"type": "Action.OpenUrl", "title": action.label, "url": action.url}
        else:
            item = {
                "type": "Action.Execute",
                "title": action.label,
                "verb": CARD_VERB,
                "data": {"action": action.id},
            }
            if asks_reason and not action.needs_reason:
                item["associatedInputs"] = "none"
        if action.style in _STYLE:
            item["style"] = _STYLE[action.style]
        actions.append(item)
    card: dict[str, Any] = {"type": "AdaptiveCard", "version": "1.5", "body": body}
    if actions:
        card["actions"] = actions
    return card


def card_text(teams_html: str) -> list[dict[str, Any]]:
    """Teams message HTML as card elements: one ``RichTextBlock`` per line, each run a
    ``TextRun`` carrying its marks. TextRuns take no Markdown (a TextBlock would turn a
    typed ``[x](url)`` or ``**x**`` into a link or bold), so text stays text."""
    elements: list[dict[str, Any]] = []
    for block in parse(teams_html):
        for n, line in enumerate(block.lines):
            inlines: list[dict[str, Any]] = []
            if block.pre:
                inlines = [{"type": "TextRun", "text": line_text(line), "fontType": "Monospace"}]
            else:
                lead = ("\u00a0\u00a0" * block.indent) + (block.bullet if n == 0 else "")
                if lead:
                    inlines.append({"type": "TextRun", "text": lead})
                inlines += [_text_run(run) for run in line if run.text]
            if not inlines:
                continue
            element: dict[str, Any] = {"type": "RichTextBlock", "inlines": inlines}
            if n > 0 or (block.tight and elements):
                element["spacing"] = "None"  # a line break, not a new paragraph
            elements.append(element)
    return elements


def _text_run(run: Run) -> dict[str, Any]:
    inline: dict[str, Any] = {"type": "TextRun", "text": run.text}
    for mark in run.marks:
        if mark.kind == BOLD:
            inline["weight"] = "Bolder"
        elif mark.kind == ITALIC:
            inline["italic"] = True
        elif mark.kind == UNDERLINE:
            inline["underline"] = True
        elif mark.kind == STRIKE:
            inline["strikethrough"] = True
        elif mark.kind == CODE:
            inline["fontType"] = "Monospace"
        elif mark.kind == LINK and mark.href:
            inline["selectAction"] = {"type": "Action.OpenUrl", "url": mark.href}
    return inline


def preview(text: str, limit: int = SUMMARY_CHARS) -> str:
    """``text`` on one line, cut to ``limit`` characters: the notification preview
    (``summary``). The whole text is in the message itself, and the payload limit counts both."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "\u2026"


def build_activity(post: Post) -> Activity:
    """The message Activity for ``post``: HTML text (``textFormat: xml``) plus a card
    attachment carrying the actions, if any."""
    activity = Activity(type=ActivityTypes.message, text=post.text, text_format="xml")
    if post.fallback:
        activity.summary = preview(post.fallback)
    if post.actions:
        activity.attachments = [
            Attachment(content_type=CARD_CONTENT_TYPE, content=build_card(post, with_text=False))
        ]
    else:
        activity.attachments = []
    if post.reply_to:
        activity.reply_to_id = post.reply_to
    return activity
