"""Chat commands for alerts, tasks and contact requests, and for preferences."""

from __future__ import annotations

import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bridge import notices
from bridge.actions import ACCEPT, ACK, DECLINE, DISMISS, ItemActions
from bridge.inbound.answering import Answering
from bridge.inbound.sharing import set_share, shared_platforms
from bridge.lms.api import LmsApi, NotificationApi
from bridge.lms.errors import LmsError, LmsUnavailable
from bridge.lms.notification_prefs import MOBILE, NotificationPrefs
from bridge.model import CommandEvent, ItemKind, Platform
from bridge.profile import Profiles
from bridge.render import escape
from bridge.rooms.prefs import GROUPS_CHOICES, GROUPS_PREF
from bridge.router import types_switched_off
from bridge.store.records import Link
from bridge.store.store import Store

KIND_LABELS = {"task": "task", "alert": "alert", "contact_request": "contact request"}
PLATFORM_VALUES = {p.value for p in Platform}
ROUTED = ("messages", "alerts", "tasks")  # the settings that choose platforms


def _ids(args: str) -> list[int] | None:
    """``3 #4 5`` -> [3, 4, 5]; None when something is not a number."""
    found = []
    for word in args.replace(",", " ").split():
        word = word.lstrip("#")
        if not word.isdigit():
            return None
        found.append(int(word))
    return found


class ItemCommands(Answering):
    """``tasks``, ``ack``, ``accept``, ``decline``, ``dismiss`` and ``prefs``: mixed into
    ``Commands`` so every platform gets them the same way."""

    store: Store
    api: LmsApi
    actions: ItemActions
    profiles: Profiles

    async def _unlinked_platforms(self, link: Link, value: str) -> str | None:
        """Why ``value`` (platforms) cannot be chosen: a platform without an active link
        would route the person's items to nowhere. None when every one is linked."""
        linked = {x.identity.platform.value for x in await self.store.links_of_user(link.lms_user_id)}
        chosen = [v.strip().lower() for v in value.split(",") if v.strip()]
        missing = [c for c in chosen if c in PLATFORM_VALUES and c not in linked]
        if not missing:
            return None
        names = ", ".join(m.capitalize() for m in missing)
        how = "".join(
            f"<li>{m.capitalize()}: open your chat with the Pluto bot there and send "
            f"{notices.command_usage(self.profiles[Platform(m)], 'link')}</li>"
            for m in missing
        )
        return (
            f"<p>Not changed: you have no active {escape(names)} link, so nothing would reach you there. "
            f"Link it first:</p><ul>{how}</ul>"
        )

    async def _cmd_tasks(self, event: CommandEvent, link: Link | None) -> str:
        linked = await self._linked(event, link)
        if isinstance(linked, str):
            return linked
        items = await self.store.open_items(linked.lms_user_id)
        if not items:
            return "<p>Nothing open: no tasks, no unread alerts.</p>"
        rows = []
        for item in items:
            label = KIND_LABELS.get(item.kind, item.kind)
            url = f' <a href="{escape(item.url)}">open</a>' if item.url else ""
            rows.append(f"<li><b>#{item.short_id}</b> {label}: {escape(item.subject or '(no subject)')}{url}</li>")
        hint = notices.command_usage(self._profile(event), "accept ID")
        return f"<p>Open items, newest first:</p><ul>{''.join(rows)}</ul><p>Act with {hint} and friends.</p>"

    async def _act_on(self, event: CommandEvent, link: Link | None, verb: str, *, many: bool) -> str:
        linked = await self._linked(event, link)
        if isinstance(linked, str):
            return linked
        words = event.args.strip()
        if many and words.lower() == "all":
            targets = [i for i in await self.store.open_items(linked.lms_user_id) if i.kind == ItemKind.ALERT.value]
            if not targets:
                return "<p>No unread alerts.</p>"
        else:
            first, _, reason = words.partition(" ")
            ids = _ids(words if many else first)
            if not ids:
                usage = notices.command_usage(
                    self._profile(event), f"{event.name} ID" + ("..." if many else " [REASON]")
                )
                tasks = notices.command_usage(self._profile(event), "tasks")
                return f"<p>Which one? Type {usage}; {tasks} lists the numbers.</p>"
            targets = []
            for short in ids:
                item = await self.store.item_by_short(linked.lms_user_id, short)
                if item is None:
                    return f"<p>There is no item #{short}. <code>tasks</code> lists yours.</p>"
                targets.append(item)
        answers = []
        for item in targets:
            outcome = await self.actions.perform(linked, verb, item, "" if many else reason.strip())
            answers.append(f"<li>#{item.short_id}: {outcome.html}</li>")
        return answers[0][answers[0].index(":") + 2 : -5] if len(answers) == 1 else f"<ul>{''.join(answers)}</ul>"

    async def _cmd_ack(self, event: CommandEvent, link: Link | None) -> str:
        return await self._act_on(event, link, ACK, many=True)

    async def _cmd_accept(self, event: CommandEvent, link: Link | None) -> str:
        return await self._act_on(event, link, ACCEPT, many=False)

    async def _cmd_decline(self, event: CommandEvent, link: Link | None) -> str:
        return await self._act_on(event, link, DECLINE, many=False)

    async def _cmd_dismiss(self, event: CommandEvent, link: Link | None) -> str:
        return await self._act_on(event, link, DISMISS, many=False)

    async def _cmd_prefs(self, event: CommandEvent, link: Link | None) -> str:
        linked = await self._linked(event, link)
        if isinstance(linked, str):
            return linked
        prefs = await self.store.preferences_of(linked.lms_user_id)
        setting, _, value = event.args.strip().partition(" ")
        setting, value = setting.lower(), value.strip()
        if setting == "types" or (setting in ("on", "off") and value.isdigit()):
            try:
                lms_prefs = await NotificationApi(self.api.client).notification_prefs(linked.token, linked.lms_user_id)
            except (LmsError, LmsUnavailable) as exc:
                return f"<p>Could not read your notification preferences in Pluto: {escape(str(exc))}</p>"
            if setting == "types":
                return describe_types(lms_prefs, types_switched_off(prefs))
            number = int(value)
            if not 0 < number <= len(lms_prefs.types):
                return f"<p>There is no type {number}; <code>prefs types</code> lists them.</p>"
            value = lms_prefs.types[number - 1].key
        if (setting in ROUTED and value.lower() not in ("", "all", "default")) or (
            setting == "share" and value.lower().endswith(" contacts")
        ):
            unlinked = await self._unlinked_platforms(linked, value.split()[0] if setting == "share" else value)
            if unlinked:
                return unlinked
        if setting:
            problem = _apply_pref(prefs, setting, value)
            if problem:
                return f"<p>{escape(problem)}</p>" + PREFS_HELP
            await self.store.set_preferences(linked.lms_user_id, prefs)
            if setting == "quiet" and "quiet" not in prefs:
                await self.store.release_held_of(linked.lms_user_id, time.time())
        return _describe_prefs(prefs)


GROUP_WORDS = {"room": "in the room only", "dm": "also privately", "both": "also privately"}

PREFS_HELP = (
    "<p>Settings: <code>prefs messages|alerts|tasks PLATFORM[,PLATFORM]</code> (or <code>all</code>), "
    "<code>prefs quiet 22:00-07:00 [Europe/Paris]</code> or <code>prefs quiet off</code>, "
    "<code>prefs types</code> (the notification types Pluto sends you, numbered), "
    "<code>prefs off NUMBER</code> and <code>prefs on NUMBER</code> (or COMPONENT/TYPE, e.g. "
    "<code>mod_forum/posts</code>), <code>prefs share PLATFORM contacts|nobody</code> (your Pluto contacts on "
    "that platform see you there, with a button to chat with you), "
    "<code>prefs groups room|dm|both</code> (group messages in a linked room only, or also privately).</p>"
)


def _apply_pref(prefs: dict[str, Any], setting: str, value: str) -> str | None:
    """Change one preference in place; returns a problem for the person, or None."""
    if setting in ("messages", "alerts", "tasks"):
        kind = {"messages": "message", "alerts": "alert", "tasks": "task"}[setting]
        routes = dict(prefs.get("routes") or {})
        if value.lower() in ("", "all", "default"):
            routes.pop(kind, None)
        else:
            chosen = [v.strip().lower() for v in value.split(",") if v.strip()]
            unknown = [c for c in chosen if c not in PLATFORM_VALUES]
            if unknown:
                return f"Unknown platform {', '.join(unknown)}; choose from {', '.join(sorted(PLATFORM_VALUES))}."
            routes[kind] = chosen
        prefs["routes"] = routes
        return None
    if setting == "share":
        return set_share(prefs, value)
    if setting == "quiet":
        if value.lower() in ("off", "none", ""):
            prefs.pop("quiet", None)
            return None
        span, _, zone = value.partition(" ")
        start, _, end = span.partition("-")
        try:
            for part in (start, end):
                hours, _, minutes = part.partition(":")
                if not (0 <= int(hours) < 24 and 0 <= int(minutes or 0) < 60):
                    raise ValueError(part)
            ZoneInfo(zone.strip() or "UTC")
        except (ValueError, ZoneInfoNotFoundError):
            return f"Quiet hours look like 22:00-07:00 followed by a time zone such as Europe/Paris (got {value!r})."
        prefs["quiet"] = {"start": start, "end": end, "tz": zone.strip() or "UTC"}
        return None
    if setting in ("off", "on"):
        key = value.replace("/", "_")
        if "_" not in key or " " in key:
            return "Name the notification type by its number in prefs types, or as COMPONENT/TYPE (mod_forum/posts)."
        off = types_switched_off(prefs)
        (off.add if setting == "off" else off.discard)(key)
        prefs["types_off"] = sorted(off)
        return None
    if setting == "groups":
        if value.lower() not in GROUPS_CHOICES:
            return f"Group messages go to: {', '.join(GROUPS_CHOICES)} (got {value!r})."
        prefs[GROUPS_PREF] = value.lower()
        return None
    return f"Unknown setting {setting!r}."


def describe_types(lms_prefs: NotificationPrefs, off: set[str]) -> str:
    """Pluto's notification types for the person, numbered, each with the bridge's switch
    for chat and the outputs Pluto has on for it."""
    labels = {"popup": "Web", "email": "Email", MOBILE: "Mobile"}
    rows = []
    for t in lms_prefs.types:
        shown = [o for o in labels if o in t.outputs] + sorted(t.outputs - labels.keys())
        outputs = ", ".join(labels.get(o, o) for o in shown) or "none"
        chat = "off" if t.key in off else "on"
        rows.append(
            f"<li>{escape(t.component)}: {escape(t.name)}: chat <b>{chat}</b> (Pluto outputs: {escape(outputs)})</li>"
        )
    top = (
        "<p>All notifications are switched off in your Pluto preferences: none reach chat.</p>"
        if lms_prefs.disableall
        else "<p>Notification types Pluto may send you:</p>"
    )
    hint = (
        "<p>Switch one off for chat with <code>prefs off NUMBER</code>, back on with <code>prefs on NUMBER</code>. "
        "Where Pluto pushes to the bridge, types without the Mobile output do not arrive.</p>"
    )
    return f"{top}<ol>{''.join(rows)}</ol>{hint}"


def _describe_prefs(prefs: dict[str, Any]) -> str:
    routes = prefs.get("routes") or {}

    def where(kind: str, fallback: str) -> str:
        return ", ".join(routes[kind]) if routes.get(kind) else fallback

    messages = where("message", "every linked chat")
    quiet = prefs.get("quiet")
    quiet_text = f"{quiet['start']}-{quiet['end']} ({quiet['tz']})" if quiet else "off"
    off = ", ".join(sorted(types_switched_off(prefs))) or "none"
    shared = ", ".join(p.capitalize() for p in shared_platforms(prefs)) or "nothing (nobody sees where you chat)"
    return (
        f"<ul><li>messages: {escape(messages)}</li><li>alerts: {escape(where('alert', 'where messages go'))}</li>"
        f"<li>tasks: {escape(where('task', 'where messages go'))}</li><li>quiet hours: {escape(quiet_text)} "
        "(urgent tasks still come through)</li>"
        f"<li>notification types switched off: {escape(off)}</li>"
        f"<li>group messages where the group has a linked room you are in: "
        f"{escape(GROUP_WORDS[prefs.get(GROUPS_PREF, 'room')])}</li>"
        f"<li>shared with your Pluto contacts: {escape(shared)}</li></ul>" + PREFS_HELP
    )
