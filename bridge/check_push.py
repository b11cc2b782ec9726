"""``pluto-bridge check --push``: which site settings make Moodle push to the bridge, and
proof, where it can be had, that they are in place.

Without ``--push-from`` it proves what it can from here: the receiver answers at the public
URL with this key. With ``--push-from TOKEN`` (a second account: Moodle pushes nothing for
self-conversations) it registers a probe device for the ``lms.token`` user, sends that user
one message from the second account and waits for the site's push at the bridge.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import aiohttp

from bridge.config import Settings
from bridge.lms.api import LmsApi
from bridge.lms.client import LmsClient
from bridge.lms.devices import ADD, DEVICE_FIELDS, REMOVE
from bridge.lms.errors import LmsError, LmsUnavailable
from bridge.lms.push import PROBE_PREFIX

WAIT = 20.0  # seconds for the site's push to arrive (Moodle sends it while the sender waits)


def site_settings(settings: Settings) -> list[tuple[str, str]]:
    """(setting, value) pairs for Site administration > Messaging > Mobile (airnotifier)."""
    push = settings.push
    url = urlsplit(settings.web.public_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    key = push.access_key.get_secret_value() if push.access_key else "(set [push] access_key first)"
    return [
        ("airnotifierurl", settings.web.public_url + push.path_prefix),
        ("airnotifierport", str(port)),
        ("airnotifierappname", push.app_name),
        ("airnotifieraccesskey", key),
        ("airnotifiermobileappname", push.mobile_app_name),
    ]


def receiver_url(settings: Settings) -> str:
    """Where Moodle will POST: it appends ``:{port}`` to airnotifierurl, path and all."""
    values = dict(site_settings(settings))
    return f"{values['airnotifierurl']}:{values['airnotifierport']}"


async def run_push_check(settings: Settings, echo: Callable[[str], object], push_from: str | None) -> int:
    """Print the settings to set, then prove what can be proved; returns the exit code."""
    push = settings.push
    echo("push: set these on the Pluto site (Site administration > Plugins > Message outputs > Mobile):")
    for name, value in site_settings(settings):
        echo(f"  {name} = {value}")
    host = urlsplit(settings.web.public_url).hostname or settings.web.public_url
    echo("  Site administration > Messaging > Notification settings: Mobile output enabled, and on for")
    echo("    'Personal messages between users' (each person's Mobile preferences decide the other types)")
    echo(f"  curlsecurityblockedhosts (Security > HTTP security) must not list {host} or its address")
    if not push.enabled:
        echo("push: [push] enabled = false in this configuration: the bridge polls everyone")
        return 1
    headers = {
        "X-AN-APP-NAME": push.app_name,
        "X-AN-APP-KEY": push.access_key.get_secret_value() if push.access_key else "",
    }
    base = receiver_url(settings)
    probe_id = PROBE_PREFIX + secrets.token_hex(8)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        reachable = await _probe(http, f"{base}/probe/{probe_id}", headers, echo)
        if reachable is None:
            return 1
        echo(f"receiver: answers at {base} with this app name and key (push state: {reachable})")
        if push_from is None:
            echo("not proved: that the site pushes to the bridge; run again with --push-from TOKEN")
            echo("  (a token of a second Pluto account: it sends the lms.token user one message)")
            return 0
        return await _end_to_end(settings, echo, http, base, headers, probe_id, push_from)


async def _probe(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], echo: Callable[[str], object]
) -> str | None:
    try:
        async with http.get(url, headers=headers) as resp:
            if resp.status == 401:
                echo(f"receiver: {url} refused this app name and key (401): is the running bridge using this config?")
                return None
            if resp.status != 200:
                echo(f"receiver: {url} answered {resp.status}: is push enabled in the running bridge?")
                return None
            return str((await resp.json()).get("state"))
    except (aiohttp.ClientError, TimeoutError) as exc:
        echo(
            f"receiver: not reachable at {url} ({exc.__class__.__name__}): is the bridge running, web.public_url right?"
        )
        return None


async def _end_to_end(
    settings: Settings,
    echo: Callable[[str], object],
    http: aiohttp.ClientSession,
    base: str,
    headers: dict[str, str],
    probe_id: str,
    push_from: str,
) -> int:
    if settings.lms.token is None:
        echo("not proved: lms.token is needed (the probe device is registered for its user)")
        return 1
    token = settings.lms.token.get_secret_value()
    uuid = f"pluto-bridge-{probe_id}"
    async with LmsClient(settings.lms.url, timeout=settings.lms.timeout, retries=settings.lms.retries) as client:
        api = LmsApi(client)
        try:
            target = await api.site_info(token)
            sender = await api.site_info(push_from)
        except (LmsError, LmsUnavailable) as exc:
            echo(f"not proved: the LMS refused a token ({exc})")
            return 1
        if sender.userid == target.userid:
            echo("not proved: --push-from must be another account (Moodle pushes nothing for self-conversations)")
            return 1
        try:
            await client.call(
                token, ADD, appid=settings.push.mobile_app_name, pushid=probe_id, uuid=uuid, **DEVICE_FIELDS
            )
        except (LmsError, LmsUnavailable) as exc:
            echo(f"not proved: {ADD} failed for {target.username} ({exc}); add it to the web service")
            return 1
        try:
            sent_at = time.monotonic()
            result = await client.call_once(
                push_from,
                "core_message_send_instant_messages",
                messages=[
                    {"touserid": target.userid, "text": "Pluto Bridge push check: please ignore.", "textformat": 2}
                ],
            )
            first = result[0] if isinstance(result, list) and result else {}
            if int(first.get("msgid", -1)) < 0:
                echo(f"not proved: {sender.username} cannot message {target.username}: {first.get('errormessage')}")
                return 1
            seen = await _wait_seen(http, f"{base}/probe/{probe_id}", headers)
        except (LmsError, LmsUnavailable) as exc:
            echo(f"not proved: sending the test message failed ({exc})")
            return 1
        finally:
            try:
                await client.call(token, REMOVE, uuid=uuid, appid=settings.push.mobile_app_name)
            except (LmsError, LmsUnavailable) as exc:
                echo(f"note: the probe device was not removed ({exc})")
    if seen:
        echo(
            f"proved: the site pushed {sender.username}'s message for {target.username} to the bridge "
            f"in {time.monotonic() - sent_at:.1f}s"
        )
        return 0
    echo(
        f"not proved: no push reached the bridge within {WAIT:.0f}s. Check, in order: the settings above; "
        f"{target.username}'s Mobile preference for personal messages; curlsecurityblockedhosts; "
        "and the bridge's log ('push refused' means the app name or key differs)"
    )
    return 1


async def _wait_seen(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> bool:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        async with http.get(url, headers=headers) as resp:
            if resp.status == 200 and (await resp.json()).get("seen"):
                return True
        await asyncio.sleep(0.25)
    return False
