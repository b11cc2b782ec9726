"""The one command parser: what a person typed as a command, as (name, arguments).

Adapters hand over the command text as typed after the platform's command word (``to
Maya`` from ``/pluto to Maya``, ``/to@PlutoBot Maya`` from Telegram, ``link`` typed on the
console); this module alone decides what it names. A name that is no command is kept as
typed, so the command set can answer it with help (it is never relayed as a message).
"""

from __future__ import annotations

import dataclasses

from bridge.model import CommandEvent

ALIASES = {"start": "link"}  # Telegram's Start button (and /start typed) links the chat


def parse_command(text: str) -> tuple[str, str]:
    """(name, args): the first word lower-cased, without a leading ``/`` or a trailing
    ``@BotName`` (how Telegram addresses one bot in a group), aliases resolved; args are
    the rest, stripped. Nothing typed: ("help", "")."""
    words = text.strip().split(maxsplit=1)
    if not words:
        return "help", ""
    name = words[0].lstrip("/").split("@", 1)[0].lower()
    return ALIASES.get(name, name) or "help", words[1].strip() if len(words) > 1 else ""


def parsed(event: CommandEvent) -> CommandEvent:
    """``event`` with ``name`` and ``args`` parsed from the typed ``text`` (events that
    arrive with a name, such as Discord's structured slash commands, stay as they are)."""
    if event.name:
        return event
    name, args = parse_command(event.text)
    return dataclasses.replace(event, name=name, args=args)
