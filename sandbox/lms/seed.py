"""The demo seed: one course, a mentor, two mentees and a group conversation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .server import SandboxLMS

DEMO_PASSWORD = "Passw0rd!"


@dataclass(frozen=True)
class DemoSeed:
    """What ``seed_demo`` created; ``users`` and ``passwords`` are keyed by username."""

    course_id: int
    course_shortname: str
    group_id: int
    group_conversation_id: int  # 0 in totara mode, which has no group conversations
    mentor_id: int
    mentee1_id: int
    mentee2_id: int
    users: dict[str, int]
    passwords: dict[str, str]


def seed_demo(lms: SandboxLMS) -> DemoSeed:
    """Create MENT101 "Mentoring 101" with mentor, mentee1, mentee2 and group "Cohort A"."""
    people = {
        "mentor": ("Maya", "Mentor", "editingteacher"),
        "mentee1": ("Sam", "Mentee", "student"),
        "mentee2": ("Alex", "Mentee", "student"),
    }
    course_id = lms.create_course("MENT101", "Mentoring 101")
    ids: dict[str, int] = {}
    for username, (first, last, role) in people.items():
        ids[username] = lms.create_user(username, DEMO_PASSWORD, first, last)
        lms.enrol(course_id, ids[username], role)
    group_id, conv_id = lms.create_group(course_id, "Cohort A", list(ids.values()), messaging=True)
    return DemoSeed(
        course_id=course_id,
        course_shortname="MENT101",
        group_id=group_id,
        group_conversation_id=conv_id or 0,
        mentor_id=ids["mentor"],
        mentee1_id=ids["mentee1"],
        mentee2_id=ids["mentee2"],
        users=dict(ids),
        passwords={u: DEMO_PASSWORD for u in ids},
    )
