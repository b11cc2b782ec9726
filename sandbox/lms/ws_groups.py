"""Course groups through web services: ``core_group_create_groups`` (observed 4).

Group messaging cannot be switched on through web services in 4.5: the group description has
no ``enablemessaging`` key, so passing one fails the whole call with ``invalidparameter`` (the
parameter validation rejects unexpected keys), and a group created here never gets a group
conversation. Only ``SandboxLMS.create_group`` (a test hook for the site's staff) makes one.
"""

from __future__ import annotations

from typing import Any

from .errors import course_context_error, invalid_parameter
from .params import Bool, Int, List, Str, Struct, optional
from .registry import MODERN, Ctx
from .state import MANAGE_GROUPS, Group

_GROUP = Struct(
    {
        "courseid": Int(),
        "name": Str(),
        "description": Str(),
        "descriptionformat": Int(1),  # FORMAT_HTML
        "enrolmentkey": optional(Str()),
        "idnumber": optional(Str()),
        "visibility": Int(0),  # 4.2+
        "participation": Bool(True),  # 4.2+
    }
)


def _check(ctx: Ctx, g: dict[str, Any], taken: set[tuple[int, str]]) -> None:
    """Moodle's per-group checks, in its order: name, duplicate name, context, capability."""
    courseid, name = g["courseid"], g["name"]
    if not name.strip() or (courseid, name) in taken:
        raise invalid_parameter()  # 'Invalid group name' / 'Group with the same name already exists'
    course = ctx.state.courses.get(courseid)
    if course is None:
        raise course_context_error(courseid, "Invalid parameter value detected")
    role = course.enrolments.get(ctx.userid)
    if not ctx.is_admin and role is None:
        raise course_context_error(courseid, "Course or activity not accessible. (Not enrolled)")
    ctx.require_capability(courseid, MANAGE_GROUPS)


def _record(group: Group) -> dict[str, Any]:
    return {
        "id": group.id,
        "courseid": group.courseid,
        "name": group.name,
        "description": group.description,
        "descriptionformat": group.descriptionformat,
        "enrolmentkey": group.enrolmentkey,
        "idnumber": group.idnumber,
        "visibility": group.visibility,
        "participation": group.participation,
    }


@MODERN.register("core_group_create_groups", groups=List(_GROUP))
def create_groups(ctx: Ctx, p: dict[str, Any]) -> list[dict[str, Any]]:
    """Create groups (one transaction: any failure creates none); never a group conversation."""
    st = ctx.state
    taken = {(g.courseid, g.name) for g in st.groups.values()}
    for g in p["groups"]:
        _check(ctx, g, taken)
        taken.add((g["courseid"], g["name"]))
    created = []
    for g in p["groups"]:
        group = st.add_group(g["courseid"], g["name"], [], messaging=False)
        group.description = g["description"]
        group.descriptionformat = g["descriptionformat"]
        group.enrolmentkey = g.get("enrolmentkey", "")
        group.idnumber = g.get("idnumber", "")
        group.visibility = g["visibility"]
        group.participation = g["participation"]
        created.append(_record(group))
    return created
