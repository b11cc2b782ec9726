"""Rendering: LMS HTML into safe HTML, and safe HTML into each platform's markup.

The neutral format inside the bridge is *safe HTML* (see ``safe_html``). LMS text enters
through ``sanitize_lms_html``; the bridge's own words are built with ``escape`` plus tags
written on purpose. ``render`` turns safe HTML into one platform's markup, escaping every
text node for that platform, and cuts it into chunks that fit the platform's limit.
"""

from __future__ import annotations

from collections.abc import Callable

from bridge.model import Markup
from bridge.render.discord import DiscordRenderer
from bridge.render.document import parse
from bridge.render.plain import PlainRenderer
from bridge.render.renderer import Renderer
from bridge.render.safe_html import chat_text_to_lms, escape, sanitize_lms_html, utf8_len
from bridge.render.slack import SlackRenderer
from bridge.render.split import MIN_LIMIT, split_blocks
from bridge.render.teams import TeamsRenderer
from bridge.render.telegram import TelegramRenderer

__all__ = [
    "MIN_LIMIT",
    "RENDERERS",
    "chat_text_to_lms",
    "escape",
    "render",
    "render_with_plain",
    "sanitize_lms_html",
    "to_plain",
    "utf8_len",
]

RENDERERS: dict[Markup, Renderer] = {
    Markup.PLAIN: PlainRenderer(),
    Markup.TELEGRAM_HTML: TelegramRenderer(),
    Markup.SLACK_MRKDWN: SlackRenderer(),
    Markup.DISCORD_MARKDOWN: DiscordRenderer(),
    Markup.TEAMS_HTML: TeamsRenderer(),
}


def to_plain(safe_html: str) -> str:
    """Safe HTML -> readable plain text (links as "label (url)" when the label differs
    from the URL), for fallbacks, notifications and the console."""
    return RENDERERS[Markup.PLAIN].render(parse(safe_html))


def render(safe_html: str, markup: Markup, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """Render safe HTML for one platform and cut it into chunks of at most ``limit`` each,
    as ``measure`` counts the rendered markup (the platform's own measure, declared in
    the adapter's capabilities; see ``bridge.render.measure``), in order, at the most
    sensible boundary (paragraph, line, sentence, word, character). Each chunk is
    well-formed on its own.

    Never returns empty chunks; returns an empty list only when the input has no visible
    text at all (e.g. ``"<p> </p>"``). ``limit`` must be at least ``MIN_LIMIT``.
    """
    return split_blocks(parse(safe_html), RENDERERS[markup], limit, measure)


def render_with_plain(
    safe_html: str, markup: Markup, limit: int, measure: Callable[[str], int] = len
) -> tuple[list[str], str]:
    """``render`` and ``to_plain`` of the same safe HTML, parsed once (a delivery needs
    both: the chunks, and the plain text for previews and notifications)."""
    blocks = parse(safe_html)
    return split_blocks(blocks, RENDERERS[markup], limit, measure), RENDERERS[Markup.PLAIN].render(blocks)
