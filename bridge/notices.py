"""Every notice the bridge shows a person, worded once.

Notices are safe HTML; where a notice names a command, it is written the way the
person's platform has them typed (``Profile.command``). Adapters never word notices.
"""

from __future__ import annotations

from bridge.profile import Profile
from bridge.render import escape

FAILED = "Something went wrong on the bridge while handling that. Please try again."


def _command(profile: Profile, usage: str) -> str:
    return f"<code>{escape(profile.command(usage))}</code>"


def failed_plain() -> str:
    """The core failed on what the person did: plain words, valid in every markup."""
    return FAILED


def failed() -> str:
    """The core failed on what the person did (HTML)."""
    return f"<p>{FAILED}</p>"


def how_to_link(profile: Profile) -> str:
    """The greeting of a person whose chat is not linked yet."""
    return (
        "<p>Hello! This bot brings your Pluto messages here. To start, connect your Pluto account: "
        f"send {_command(profile, 'link')}.</p>"
    )


def signin_lost(profile: Profile, outcome: str = "") -> str:
    """The person's Pluto token no longer works. ``outcome``: what did not happen because
    of it ("Not sent", "Not done"); none: their messages are paused."""
    if outcome:
        lead = f"{outcome}: your Pluto sign-in no longer works."
    else:
        lead = "Your Pluto sign-in no longer works (it was revoked or expired), so messages are paused."
    return f"<p>{lead} Send {_command(profile, 'link')} to sign in again.</p>"


def link_inactive(profile: Profile, reason: str) -> str:
    """The person's link is switched off (the platform could not reach them)."""
    return f"<p>Your link is inactive ({escape(reason)}): send {_command(profile, 'link')} to sign in again.</p>"


def answered_privately() -> str:
    """A command typed in a shared room was answered in the private chat."""
    return "<p>I answered you in our private chat.</p>"


def cannot_answer_privately(profile: Profile, command: str) -> str:
    """A command typed in a shared room whose answer could not go to the private chat."""
    return (
        "<p>I answer commands only in our private chat, and I cannot write to you there yet. "
        f"Open a private chat with me, then send {_command(profile, command)} there.</p>"
    )


def command_usage(profile: Profile, usage: str) -> str:
    """A command written as the person types it, as HTML code (for help and hints)."""
    return _command(profile, usage)


def prompt_answered() -> str:
    """A second reply to a reason prompt that was answered already."""
    return (
        "<p>That reason prompt was answered already: nothing more was decided and nothing was sent to "
        "Pluto. To decide again, press the button on the item.</p>"
    )


def done_by(name: str, profile: Profile) -> str:
    """Who did something, and where (plain text): "Sam Mentee in Slack"."""
    return f"{name} in {profile.display_name}"
