"""Notifications the LMS raises by itself: sign-ins, enrolments, contact requests."""

from __future__ import annotations

import json
from typing import Any

from .state import NOREPLY_ID, TEACHER_ROLES, Notification, State
from .textformat import FORMAT_HTML, FORMAT_MARKDOWN, FORMAT_PLAIN, s

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
    contexturlname: str | None = "",
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


def queue_login(st: State, userid: int) -> None:
    """A sign-in through login/token.php queues ``\\core\\task\\send_login_notifications``;
    nothing is sent until cron runs (moodle-4.5-observed.md item 20)."""
    st.login_queue.append(userid)


def send_queued_logins(st: State, sitename: str) -> list[Notification]:
    """Cron: one "New sign in" per queued sign-in, stamped with the cron's second."""
    queued, st.login_queue[:] = list(st.login_queue), []
    return [new_login(st, sitename, userid) for userid in queued]


def new_login(st: State, sitename: str, userid: int) -> Notification:
    """``moodle/newlogin``, as cron sends it for a sign-in through login/token.php (observed 14, 20)."""
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


def contact_request(st: State, sitename: str, requester: int, requested: int) -> Notification:
    """``moodle/messagecontactrequests`` to the requested user, as 4.5 sends it (observed 21):
    subject "<site>: Contact request from <name>", empty ``smallmessage``, an HTML
    ``fullmessage``, no ``contexturlname``, Accept/Reject action buttons and no requester id
    (the requester is ``useridfrom``)."""
    name = s(st.fullname(requester))
    html = f'<div class="text_to_html">{name} would like to contact you</div>'
    return add_notification(
        st,
        requested,
        subject=f"{sitename}: Contact request from {st.fullname(requester)}",
        fullmessage=html,
        fullmessageformat=FORMAT_HTML,
        fullmessagehtml=html,
        smallmessage="",
        eventtype="messagecontactrequests",
        useridfrom=requester,
        contexturl=f"{WWWROOT}/message/index.php?view=contactrequests",
        contexturlname=None,
        customdata={
            "notificationiconurl": f"{WWWROOT}/theme/image.php/boost/core/1795458244/u/f1",
            "actionbuttons": {"accept": "Accept", "reject": "Reject"},
            "courseid": "1",
        },
    )
