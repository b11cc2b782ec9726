"""Notifications the LMS raises by itself: sign-ins, enrolments, contact requests."""

from __future__ import annotations

import json
from typing import Any

from .state import NOREPLY_ID, TEACHER_ROLES, Notification, State
from .textformat import FORMAT_MARKDOWN, FORMAT_PLAIN, s

# Stands for the site URL in stored rows: seeds run before the server knows its port.
WWWROOT = "@@WWWROOT@@"


def add_notification(
    st: State,
    useridto: int,
    *,
    subject: str,
    fullmessage: str,
    fullmessageformat: int = FORMAT_PLAIN,
    fullmessagehtml: str = "",
    smallmessage: str | None = None,
    component: str = "moodle",
    eventtype: str = "notices",
    useridfrom: int = NOREPLY_ID,
    contexturl: str = "",
    contexturlname: str = "",
    customdata: dict[str, Any] | None = None,
) -> Notification:
    """Store a notification (its own id counter) stamped with the clock's second."""
    note = Notification(
        id=st.new_notification_id(),
        useridfrom=useridfrom,
        useridto=useridto,
        subject=subject,
        fullmessage=fullmessage,
        fullmessageformat=fullmessageformat,
        fullmessagehtml=fullmessagehtml,
        smallmessage=smallmessage,
        component=component,
        eventtype=eventtype,
        contexturl=contexturl,
        contexturlname=contexturlname,
        timecreated=st.clock.now(),
        customdata=json.dumps(customdata, separators=(",", ":")) if customdata is not None else None,
    )
    st.store_notification(note)
    return note


def new_login(st: State, sitename: str, userid: int) -> Notification:
    """``moodle/newlogin``: queued on every sign-in through login/token.php (observed 14)."""
    user = st.user(userid)
    text = (
        f"Hi {user.firstname or user.username},\n\nYour {sitename} account was just signed in to from a "
        "new device (Moodle web service). If this was not you, change your password now."
    )
    return add_notification(
        st,
        userid,
        subject=f"New sign in to your {sitename} account",
        fullmessage=text,
        fullmessagehtml=f"<p>{s(text)}</p>",
        smallmessage=f"New sign in to your {sitename} account",
        eventtype="newlogin",
        contexturl=f"{WWWROOT}/login/change_password.php",
        contexturlname="Change password",
    )


def enrol_welcome(st: State, courseid: int, userid: int) -> Notification:
    """``moodle/enrolcoursewelcomemessage`` from the course's first teacher (observed 7b, 14)."""
    course = st.courses[courseid]
    teachers = [u for u, role in course.enrolments.items() if role in TEACHER_ROLES and u != userid]
    sender = teachers[0] if teachers else NOREPLY_ID
    user = st.user(userid)
    text = f"Hi {user.firstname or user.username}, you are enrolled in the course {course.fullname}."
    return add_notification(
        st,
        userid,
        subject=f"Welcome to {course.fullname}",
        fullmessage=text,
        fullmessageformat=FORMAT_MARKDOWN,
        fullmessagehtml=text,
        eventtype="enrolcoursewelcomemessage",
        useridfrom=sender,
        contexturl=f"{WWWROOT}/user/view.php?id={userid}&amp;course={courseid}",
        contexturlname=course.fullname,
    )


def contact_request(st: State, requester: int, requested: int) -> Notification:
    """``moodle/messagecontactrequests`` to the requested user, with Accept/Reject buttons."""
    name = st.fullname(requester)
    text = f"{name} is requesting to be added as a contact."
    return add_notification(
        st,
        requested,
        subject=f"{name} is requesting to be added as a contact",
        fullmessage=text,
        fullmessagehtml=f"<p>{s(text)}</p>",
        smallmessage=text,
        eventtype="messagecontactrequests",
        useridfrom=requester,
        contexturl=f"{WWWROOT}/message/index.php?view=contactrequests",
        contexturlname="Contact requests",
        customdata={
            "notificationiconurl": f"{WWWROOT}/theme/image.php/boost/core/1795458244/u/f1",
            "actionbuttons": {"accept": "Accept", "reject": "Decline"},
            "requesterid": requester,
        },
    )
