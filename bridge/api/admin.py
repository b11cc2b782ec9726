"""``pluto-bridge apikey``: create, list and revoke Send Message API keys."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from bridge.api.keys import SCOPES, new_key
from bridge.config import Settings
from bridge.lms.api import LmsApi
from bridge.lms.client import LmsClient
from bridge.lms.errors import LmsError, LmsUnavailable
from bridge.operator import open_store
from bridge.store import api_jobs
from bridge.store.store import Store

Echo = Callable[[str], object]


async def _sender(settings: Settings, store: Store, username: str) -> tuple[int, str] | str:
    """(Pluto user id, full name) of the sender: a linked person, else asked of the LMS
    with ``lms.token``; or what went wrong."""
    linked = await api_jobs.linked_people(store, "username", [username])
    if username in linked:
        return linked[username]
    if settings.lms.token is None:
        return f"no linked Pluto account named {username!r}, and no lms.token to look it up"
    async with LmsClient(settings.lms.url, timeout=settings.lms.timeout, retries=settings.lms.retries) as client:
        try:
            users = await LmsApi(client).users_by_field(settings.lms.token.get_secret_value(), "username", [username])
        except (LmsError, LmsUnavailable) as exc:
            return f"could not look up {username!r} in Pluto: {exc}"
    if len(users) != 1:
        return f"no Pluto account named {username!r}"
    return int(users[0]["id"]), str(users[0].get("fullname") or "")


async def create_key(
    settings: Settings, echo: Echo, name: str, sender: str, scopes: Sequence[str], rate_per_minute: int
) -> int:
    """Create a key and print it once; returns the exit code."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        echo(f"--scope: chat or pluto (got {', '.join(unknown) or 'none'})")
        return 2
    if not 0 < len(name) <= 64:
        echo("NAME: 1 to 64 characters")
        return 2
    async with open_store(settings) as store:
        found = await _sender(settings, store, sender)
        if isinstance(found, str):
            echo(found)
            return 2
        key, key_hash, prefix = new_key()
        try:
            await api_jobs.create_key(
                store,
                name=name,
                key_hash=key_hash,
                prefix=prefix,
                sender_user_id=found[0],
                sender_username=sender,
                sender_fullname=found[1],
                scopes=sorted(set(scopes)),
                rate_per_minute=rate_per_minute,
            )
        except api_jobs.KeyNameTaken as exc:
            echo(str(exc))
            return 2
        sender_linked = bool(await store.links_of_user(found[0]))
    echo(f"API key {name!r} (sender {sender}, scopes {', '.join(sorted(set(scopes)))}, {rate_per_minute}/min):")
    echo(key)
    echo("Keep it now: it is stored only as a hash and cannot be shown again.")
    if "pluto" in scopes and not sender_linked:
        echo(f"note: {sender} has not linked a chat account; sends into Pluto are refused until they do.")
    return 0


def _when(epoch: int | None) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M") if epoch else "-"


async def list_keys(settings: Settings, echo: Echo) -> int:
    """Print every key (never the key itself: its prefix)."""
    async with open_store(settings) as store:
        keys = await api_jobs.list_keys(store)
    if not keys:
        echo("no API keys (pluto-bridge apikey create NAME --sender USERNAME)")
        return 0
    for k in keys:
        state = f"revoked {_when(k.revoked_at)}" if k.revoked_at else "active"
        echo(
            f"{k.name}  {k.prefix}...  sender {k.sender_username}  scopes {','.join(k.scopes)}  "
            f"{k.rate_per_minute}/min  created {_when(k.created_at)}  last used {_when(k.last_used_at)}  {state}"
        )
    return 0


async def revoke_key(settings: Settings, echo: Echo, name: str) -> int:
    """Revoke a key at once: its next request gets 401."""
    async with open_store(settings) as store:
        done = await api_jobs.revoke_key(store, name)
    echo(f"API key {name!r} revoked" if done else f"no active API key named {name!r}")
    return 0 if done else 1
