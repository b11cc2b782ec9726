"""Message components: the buttons of a post (action rows) and the labels read back from a
pressed message."""

import logging

import discord

from bridge.model import Action

log = logging.getLogger(__name__)

# A button whose decision needs a reason carries this before its action id, so a press opens
# the reason modal even after a restart (the button itself says so; nothing to remember).
ASKS_REASON_PREFIX = "pluto-ask:"
# Discord's component limits: 5 rows of 5 buttons, labels of 80 characters, link buttons
# with an http(s) or discord: URL of at most 512 characters, modal titles of 45.
MAX_BUTTONS = 25
MAX_LABEL = 80
MAX_URL = 512
MAX_MODAL_TITLE = 45
_LINK_SCHEMES = ("http://", "https://", "discord://")
_NO_MENTIONS = discord.AllowedMentions.none()
_STYLES = {"primary": discord.ButtonStyle.primary, "danger": discord.ButtonStyle.danger}


def _label(text: str, limit: int = MAX_LABEL) -> str:
    text = " ".join(text.split()) or "\u2026"  # Discord refuses empty labels
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def custom_id_of(action: Action) -> str:
    """The button's ``custom_id``: the action id, marked when the decision asks a reason."""
    return ASKS_REASON_PREFIX + action.id if action.needs_reason else action.id


def _button_view(actions: tuple[Action, ...]) -> discord.ui.View:
    """Buttons in action rows of five, in order; the view is stopped so discord.py does not
    keep it for dispatch (presses come to ``on_interaction`` by ``custom_id`` even after a
    restart). A link Discord would refuse (not http(s), too long) is left out rather than
    losing the whole message to a 400."""
    view = discord.ui.View(timeout=None)
    for action in actions:
        if len(view.children) == MAX_BUTTONS:
            log.warning("discord: more than %d buttons; the rest are left out", MAX_BUTTONS)
            break
        if action.url:
            if not action.url.startswith(_LINK_SCHEMES) or len(action.url) > MAX_URL:
                log.warning("discord: link button %r left out: Discord refuses its URL", action.label)
                continue
            view.add_item(discord.ui.Button(label=_label(action.label), url=action.url))
        else:
            style = _STYLES.get(action.style, discord.ButtonStyle.secondary)
            view.add_item(discord.ui.Button(label=_label(action.label), custom_id=custom_id_of(action), style=style))
    view.stop()
    return view


def _pressed_label(message: discord.Message | None, custom_id: str) -> str:
    """The label of the button ``custom_id`` on the pressed message, if it can be found."""
    for row in message.components if message is not None else []:
        for child in getattr(row, "children", ()):
            if getattr(child, "custom_id", None) == custom_id:
                return str(getattr(child, "label", "") or "")
    return ""
