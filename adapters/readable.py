"""Readable stand-ins for platform tokens that cannot be resolved to a name."""

from __future__ import annotations

import datetime as dt


def readable_time(epoch: str | int) -> str:
    """A timestamp token (Discord ``<t:1700000000:R>``, Slack ``<!date^...>``) as a date
    anyone can read: ``2023-11-14 22:13 UTC``; the number itself if it is not one."""
    try:
        moment = dt.datetime.fromtimestamp(int(epoch), dt.UTC)
    except (ValueError, OverflowError, OSError):
        return str(epoch)
    return moment.strftime("%Y-%m-%d %H:%M UTC")
