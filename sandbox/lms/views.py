"""The JSON shapes Moodle 4.5 returns, built from the sandbox state (field sets as observed)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .notices import WWWROOT
from .state import (
    NOREPLY_ID,
    SUPPORT_ID,
    TYPE_GROUP,
    Conversation,
    Message,
    Notification,
    State,
)
from .textformat import FORMAT_HTML, FORMAT_PLAIN, format_text, html_to_text

THEME_REV = "1795458244"  # the theme revision in image URLs, as on the observed site


@dataclass(frozen=True)
class Site:
    """What views need besides the data: the base URL and site-wide words."""

    state: State
    url: str
    name: str
    release: str
    version: str = "2024100711.02"

    def pix(self, component: str, name: str) -> str:
        """A theme image URL."""
        return f"{self.url}/theme/image.php/boost/{component}/{THEME_REV}/{name}"

    def absolute(self, text: str | None) -> str | None:
        """Put the site URL where a stored row says ``WWWROOT``."""
        if text is None:
            return None
        return text.replace(WWWROOT, self.url)


def member(
    site: Site,
    ref: int,
    uid: int,
    *,
    contactrequests: bool = False,
    privacyinfo: bool = False,
    self_summary: bool = False,
) -> dict[str, Any]:
    """A member record of ``uid`` as seen by ``ref`` (contacts, conversation members, requests).

    The caller's own record carries ``isonline`` null and ``showonlinestatus`` false
    (moodle-4.5-observed.md item 29), except as the member of their self-conversation in
    the conversation list (``self_summary``, observed 3)."""
    st = site.state
    own = uid == ref and not self_summary
    rec: dict[str, Any] = {
        "id": uid,
        "fullname": st.fullname(uid),
        "profileurl": f"{site.url}/user/profile.php?id={uid}",
        "profileimageurl": site.pix("core", "u/f1"),
        "profileimageurlsmall": site.pix("core", "u/f2"),
        "isonline": None if own else False,
        "showonlinestatus": not own,
        "isblocked": st.is_blocked(ref, uid),
        "iscontact": st.is_contact(ref, uid),
        "isdeleted": False,
        "canmessageevenifblocked": None,
        "canmessage": None,
        "requirescontact": None,
        "cancreatecontact": True,
        "contactrequests": [],
    }
    if privacyinfo and uid != ref:
        # "Can this member reach me even if I block them" (teachers, admins).
        rec["canmessageevenifblocked"] = st.can_send_message(ref, uid, evenifblocked=True)
        rec["canmessage"] = st.can_send_message(uid, ref)
        rec["requirescontact"] = st.requires_contact(ref, uid)
    if contactrequests:
        rec["contactrequests"] = [
            {
                "id": r.id,
                "userid": r.userid,
                "requesteduserid": r.requesteduserid,
                "timecreated": r.timecreated,
            }
            for r in st.requests_between(ref, uid)
        ]
    return rec


def message_item(m: Message) -> dict[str, Any]:
    """A conversation message as ``get_conversation*`` return it."""
    return {
        "id": m.id,
        "useridfrom": m.useridfrom,
        "text": format_text(m.text, m.textformat),
        "timecreated": m.timecreated,
    }


def conversation(
    site: Site, conv: Conversation, userid: int, members: list[dict[str, Any]], messages: list[dict[str, Any]]
) -> dict[str, Any]:
    """A conversation record for ``userid`` (``unreadcount`` null when 0, observed 15)."""
    st = site.state
    unread = len(st.unread(conv, userid))
    group = st.groups.get(conv.groupid) if conv.groupid is not None else None
    return {
        "id": conv.id,
        "name": group.name if group else "",
        "subname": st.courses[group.courseid].shortname if group else None,
        "imageurl": site.pix("core", "g/g1") if conv.type == TYPE_GROUP else None,
        "type": conv.type,
        "membercount": len(st.members(conv)),
        "ismuted": userid in conv.muted,
        "isfavourite": userid in conv.favourites,
        "isread": unread == 0,
        "unreadcount": unread or None,
        "members": members,
        "messages": messages,
        "candeletemessagesforallusers": False,
    }


def message_row(site: Site, m: Message, useridto: int) -> dict[str, Any]:
    """A personal message as ``core_message_get_messages`` lists it (observed 7b)."""
    st = site.state
    sender = st.fullname(m.useridfrom)
    customdata = {
        "notificationiconurl": site.pix("core", "u/f1"),
        "actionbuttons": {"send": "Send"},
        "placeholders": {"send": "Write a message..."},
    }
    return {
        "id": m.id,
        "useridfrom": m.useridfrom,
        "useridto": useridto,
        "subject": f"New message from {sender}",
        "text": format_text(m.text, m.textformat),
        "fullmessage": html_to_text(m.text) if m.textformat == FORMAT_HTML else m.text,
        "fullmessageformat": m.textformat,
        "fullmessagehtml": m.text if m.textformat == FORMAT_HTML else "",
        "smallmessage": m.text,
        "notification": 0,
        "contexturl": "",
        "contexturlname": "",
        "timecreated": m.timecreated,
        "timeread": m.read_by.get(useridto),
        "usertofullname": st.fullname(useridto),
        "userfromfullname": sender,
        "customdata": json.dumps(customdata, separators=(",", ":")),
    }


def notification_text(n: Notification) -> str:
    """``message_format_message_text``: a small message wins, rendered as plain text."""
    if n.smallmessage:
        return format_text(n.smallmessage, FORMAT_PLAIN)
    if n.fullmessagehtml and n.fullmessageformat == FORMAT_HTML:
        return format_text(n.fullmessagehtml, FORMAT_HTML)
    return format_text(n.fullmessage, n.fullmessageformat)


def notification_icon(site: Site, n: Notification) -> str:
    """The 4.0+ ``iconurl``."""
    if n.component in ("moodle", "core"):
        return site.pix("core", "i/marker")
    return site.pix(n.component, "monologo")


def notification_row(site: Site, n: Notification) -> dict[str, Any]:
    """A notification as ``core_message_get_messages`` lists it (observed 7b)."""
    st = site.state
    return {
        "id": n.id,
        "useridfrom": n.useridfrom,
        "useridto": n.useridto,
        "subject": n.subject,
        "text": notification_text(n),
        "fullmessage": site.absolute(n.fullmessage),
        "fullmessageformat": n.fullmessageformat,
        "fullmessagehtml": site.absolute(n.fullmessagehtml),
        "smallmessage": n.smallmessage,
        "notification": 1,
        "contexturl": site.absolute(n.contexturl),
        "contexturlname": n.contexturlname,
        "timecreated": n.timecreated,
        "timeread": n.timeread,
        "usertofullname": st.fullname(n.useridto),
        "userfromfullname": st.fullname(n.useridfrom),
        "component": n.component,
        "eventtype": n.eventtype,
        "customdata": site.absolute(n.customdata),
        "iconurl": notification_icon(site, n),
    }


def popup_row(site: Site, n: Notification, now: int) -> dict[str, Any]:
    """A notification as ``message_popup_get_popup_notifications`` lists it (observed 6b)."""
    return {
        "id": n.id,
        "useridfrom": n.useridfrom,
        "useridto": n.useridto,
        "subject": n.subject,
        "shortenedsubject": n.subject if len(n.subject) <= 125 else n.subject[:122] + "...",
        "text": notification_text(n),
        "fullmessage": site.absolute(n.fullmessage),
        "fullmessageformat": n.fullmessageformat,
        "fullmessagehtml": site.absolute(n.fullmessagehtml),
        "smallmessage": n.smallmessage,
        "contexturl": site.absolute(n.contexturl),
        "contexturlname": n.contexturlname,
        "timecreated": n.timecreated,
        "timecreatedpretty": f"{format_time(now - n.timecreated)} ago",
        "timeread": n.timeread,
        "read": n.timeread is not None,
        "deleted": False,
        "iconurl": notification_icon(site, n),
        "component": n.component,
        "eventtype": n.eventtype,
        "customdata": site.absolute(n.customdata),
    }


def format_time(seconds: int) -> str:
    """Moodle's ``format_time``: the largest unit and the next one, ``now`` for zero."""
    seconds = abs(seconds)
    units = [("day", 86400), ("hour", 3600), ("min", 60), ("sec", 1)]
    for i, (name, size) in enumerate(units):
        if seconds >= size:
            first, rest = divmod(seconds, size)
            out = [f"{first} {name}{'' if first == 1 else 's'}"]
            if i + 1 < len(units):
                next_name, next_size = units[i + 1]
                second = rest // next_size
                if second:
                    out.append(f"{second} {next_name}{'' if second == 1 else 's'}")
            return " ".join(out)
    return "now"


def user_record(site: Site, uid: int, full: bool) -> dict[str, Any]:
    """A ``core_user_get_users_by_field`` / enrolled-users record (``full``: self or admin view)."""
    user = site.state.user(uid)
    rec: dict[str, Any] = {"id": user.id}
    if full:
        rec["username"] = user.username
    rec |= {"firstname": user.firstname, "lastname": user.lastname, "fullname": user.fullname}
    if full:
        rec["email"] = user.email
    rec |= {"department": "", "firstaccess": 0, "lastaccess": 0}
    if full:
        rec |= {
            "auth": "manual",
            "suspended": False,
            "confirmed": True,
            "lang": "en",
            "theme": "",
            "timezone": "99",
            "mailformat": 1,
        }
    rec |= {
        "description": "",
        "descriptionformat": 1,
        "profileimageurlsmall": site.pix("core", "u/f2"),
        "profileimageurl": site.pix("core", "u/f1"),
    }
    return rec


def noreply_or_support(uid: int) -> bool:
    """Moodle's pseudo-users that send notifications."""
    return uid in (NOREPLY_ID, SUPPORT_ID)
