"""The ``prefs groups`` setting: where a member of a group with a linked room gets its
messages on a platform where they are in that room."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

GROUPS_PREF = "groups"  # preferences key
GROUPS_CHOICES = ("room", "dm", "both")  # room (default): no private copy; dm, both: a private copy too


def wants_private_copies(preferences: Mapping[str, Any]) -> bool:
    """Whether the person asked for private copies of group messages they see in a room."""
    return preferences.get(GROUPS_PREF, "room") != "room"
