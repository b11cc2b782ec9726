"""Enrolment functions: a user's courses and a course's participants.

As Moodle 4.5 (``enrol/externallib.php``, ``user/lib.php`` ``user_get_user_details``):
- ``core_enrol_get_users_courses`` lists the courses a user is enrolled in; asked about
  someone else, only courses whose participants the caller may view.
- ``core_enrol_get_enrolled_users`` needs the caller enrolled (``errorcoursecontextnotvalid``
  otherwise) and ``moodle/course:viewparticipants``; the ``groupid`` option for a group the
  caller is not in needs ``moodle/site:accessallgroups``; ``withcapability`` needs
  ``moodle/role:review`` and keeps the users holding that capability in the course. A
  record's ``groups`` appear only to holders of ``moodle/site:accessallgroups``; its
  ``roles`` to everyone ("not a big secret").
"""

from __future__ import annotations

from typing import Any

from .errors import course_context_error, invalid_parameter
from .params import Bool, Int, List, Str, Struct
from .registry import MODERN, Ctx
from .state import (
    ACCESS_ALL_GROUPS,
    ROLE_IDS,
    ROLE_REVIEW,
    VIEW_PARTICIPANTS,
    Course,
)
from .views import user_record

NOT_ENROLLED = "Course or activity not accessible. (Not enrolled)"


def _course(ctx: Ctx, courseid: int) -> Course:
    """The course, validated as Moodle's ``validate_context`` does for the caller."""
    course = ctx.state.courses.get(courseid)
    if course is None:
        raise course_context_error(courseid, "Invalid parameter value detected")
    if ctx.userid not in course.enrolments and not ctx.is_admin:
        raise course_context_error(courseid, NOT_ENROLLED)
    return course


def _course_record(course: Course, usercount: bool) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": course.id,
        "shortname": course.shortname,
        "fullname": course.fullname,
        "displayname": course.fullname,
    }
    if usercount:
        rec["enrolledusercount"] = len(course.enrolments)
    rec |= {
        "idnumber": "",
        "visible": 1,
        "summary": "",
        "summaryformat": 1,
        "format": "topics",
        "showgrades": True,
        "lang": "",
        "enablecompletion": True,
        "completionhasactivity": False,
        "completionusertracked": True,
        "category": 1,
        "progress": None,
        "completed": False,
        "startdate": 0,
        "enddate": 0,
        "marker": 0,
        "lastaccess": None,
        "isfavourite": False,
        "hidden": False,
        "overviewfiles": [],
        "showactivitydates": True,
        "showcompletionconditions": True,
        "timemodified": 0,
    }
    return rec


@MODERN.register("core_enrol_get_users_courses", userid=Int(), returnusercount=Bool(True))
def get_users_courses(ctx: Ctx, p: dict[str, Any]) -> list[dict[str, Any]]:
    """Courses ``userid`` is enrolled in; for another user only those whose participants the
    caller may view (Moodle skips the others silently)."""
    st = ctx.state
    userid = p["userid"]
    out = []
    for course in st.courses.values():
        if userid not in course.enrolments:
            continue
        if userid != ctx.userid and not (
            ctx.is_admin
            or (ctx.userid in course.enrolments and st.has_capability(ctx.userid, course.id, VIEW_PARTICIPANTS))
        ):
            continue
        out.append(_course_record(course, p["returnusercount"]))
    return out


@MODERN.register(
    "core_enrol_get_enrolled_users",
    courseid=Int(),
    options=List(Struct({"name": Str(), "value": Str()}), default=[]),
)
def get_enrolled_users(ctx: Ctx, p: dict[str, Any]) -> list[dict[str, Any]]:
    """Participants of a course with their roles (and groups, for those who see all groups)."""
    st = ctx.state
    course = _course(ctx, p["courseid"])
    ctx.require_capability(course.id, VIEW_PARTICIPANTS)
    options = {o["name"]: o["value"] for o in p["options"]}
    known = {"withcapability", "groupid", "onlyactive", "onlysuspended", "userfields", "limitfrom", "limitnumber"}
    if not set(options) <= known | {"sortby", "sortdirection"}:
        raise invalid_parameter()
    userids = list(course.enrolments)
    capability = options.get("withcapability", "")
    if capability:
        ctx.require_capability(course.id, ROLE_REVIEW)
        userids = [u for u in userids if st.has_capability(u, course.id, capability)]
    groupid = int(options.get("groupid") or 0)
    if groupid:
        group = st.groups.get(groupid)
        if group is None or ctx.userid not in group.members:
            ctx.require_capability(course.id, ACCESS_ALL_GROUPS)
        userids = [u for u in userids if group is not None and group.courseid == course.id and u in group.members]
    start = int(options.get("limitfrom", 0) or 0)
    count = int(options.get("limitnumber", 0) or 0)
    userids = userids[start : start + count] if count else userids[start:]
    fields = {f.strip() for f in options.get("userfields", "").split(",") if f.strip()}
    sees_groups = st.has_capability(ctx.userid, course.id, ACCESS_ALL_GROUPS)
    out = []
    for uid in userids:
        rec = user_record(ctx.site, uid, full=ctx.is_admin or uid == ctx.userid)
        role = course.enrolments[uid]
        if sees_groups:
            rec["groups"] = [
                {"id": g.id, "name": g.name, "description": "", "descriptionformat": 1}
                for g in st.groups.values()
                if g.courseid == course.id and uid in g.members
            ]
        rec["roles"] = [{"roleid": ROLE_IDS.get(role, 5), "name": "", "shortname": role, "sortorder": 0}]
        rec["enrolledcourses"] = [
            {"id": c.id, "fullname": c.fullname, "shortname": c.shortname}
            for c in st.courses.values()
            if uid in c.enrolments
        ]
        if fields:
            rec = {k: v for k, v in rec.items() if k == "id" or k in fields}
        out.append(rec)
    return out
