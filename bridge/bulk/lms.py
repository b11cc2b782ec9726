"""The LMS calls of bulk messages, always with the sender's own token.

Courses come from ``core_enrol_get_users_courses``; whether the person may bulk-message a
course from ``core_enrol_get_enrolled_users`` with ``withcapability`` =
``moodle/course:bulkmessaging`` (the capability Moodle's Participants page requires,
domain.md MD-BULKCAP; Moodle's send function itself does not check it); participants from
the same function, with the ``groupid`` option for a group. Sends go through
``core_message_send_instant_messages``, whose refusals are a normal per-recipient result
(moodle-4.5-observed.md item 11).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bridge.lms.client import LmsClient
from bridge.lms.errors import AccessDenied, NotFound
from bridge.render import to_plain

BULK_CAPABILITY = "moodle/course:bulkmessaging"
SEND = "core_message_send_instant_messages"
# Seconds the LMS's clock may lag the bridge's when looking for a send that may have arrived.
# The same text from the same sender inside that window counts as arrived: at worst the
# person already has that very message.
CLOCK_SKEW = 60
_NOT_ID = re.compile(r"[^A-Za-z0-9_-]")  # Moodle fails the whole call for any other (observed 10)


@dataclass(frozen=True, slots=True)
class Course:
    id: int
    shortname: str
    fullname: str


@dataclass(frozen=True, slots=True)
class Participant:
    id: int
    fullname: str
    roles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()


def client_msg_id(job_id: int, user_id: int) -> str:
    """The ``clientmsgid`` of one recipient's message: the same on every try."""
    return _NOT_ID.sub("-", f"pb-bulk-{job_id}-{user_id}")


async def courses(client: LmsClient, token: str, userid: int) -> list[Course]:
    """The courses the person is enrolled in."""
    data = await client.call(token, "core_enrol_get_users_courses", userid=userid, returnusercount=False)
    return [Course(int(c["id"]), str(c.get("shortname") or ""), str(c.get("fullname") or "")) for c in data]


async def may_bulk_message(client: LmsClient, token: str, userid: int, course_id: int) -> bool:
    """Whether the person holds ``moodle/course:bulkmessaging`` in the course. Asking needs
    ``moodle/role:review``, which students lack: a refusal means no."""
    try:
        holders = await client.call(
            token,
            "core_enrol_get_enrolled_users",
            courseid=course_id,
            options=[{"name": "withcapability", "value": BULK_CAPABILITY}, {"name": "userfields", "value": "id"}],
        )
    except AccessDenied:
        return False
    return any(int(u["id"]) == userid for u in holders)


async def teaching(client: LmsClient, token: str, userid: int) -> list[Course]:
    """The courses the person may bulk-message."""
    return [c for c in await courses(client, token, userid) if await may_bulk_message(client, token, userid, c.id)]


async def participants(client: LmsClient, token: str, course_id: int, group_id: int | None = None) -> list[Participant]:
    """The course's participants (of one group when given), as the person may see them.
    ``groups`` is empty for someone who cannot see every group (Moodle leaves it out)."""
    options = [{"name": "userfields", "value": "id,fullname,roles,groups"}]
    if group_id is not None:
        options.append({"name": "groupid", "value": str(group_id)})
    data = await client.call(token, "core_enrol_get_enrolled_users", courseid=course_id, options=options)
    return [
        Participant(
            int(u["id"]),
            str(u.get("fullname") or f"User {u['id']}"),
            tuple(str(r.get("shortname") or "") for r in u.get("roles") or []),
            tuple(str(g.get("name") or "") for g in u.get("groups") or []),
        )
        for u in data
    ]


async def group_ids(client: LmsClient, token: str, course_id: int) -> dict[str, int]:
    """Group names -> ids, from the participants' records (seen by those who see all groups)."""
    data = await client.call(
        token, "core_enrol_get_enrolled_users", courseid=course_id, options=[{"name": "userfields", "value": "groups"}]
    )
    return {str(g["name"]): int(g["id"]) for u in data for g in u.get("groups") or []}


async def send_batch(
    client: LmsClient, token: str, job_id: int, batch: Sequence[tuple[int, str]]
) -> list[dict[str, Any]]:
    """One call sending ``text`` to each (user id, text); one result per recipient, in order."""
    messages = [
        {"touserid": uid, "text": text, "textformat": 2, "clientmsgid": client_msg_id(job_id, uid)}
        for uid, text in batch
    ]
    return list(await client.call_once(token, SEND, messages=messages))


def _same_text(html: str, text: str) -> bool:
    return " ".join(to_plain(html).split()) == " ".join(text.split())


async def already_sent(client: LmsClient, token: str, userid: int, peer: int, text: str, since: float) -> bool:
    """Whether the person's conversation with ``peer`` holds ``text`` from them, sent at or
    after ``since`` (a send the process died during may have arrived: read, never guess)."""
    try:
        data = await client.call(
            token,
            "core_message_get_conversation_between_users",
            userid=userid,
            otheruserid=peer,
            includecontactrequests=False,
            includeprivacyinfo=False,
            memberlimit=0,
            memberoffset=0,
            messagelimit=20,
            messageoffset=0,
            newestmessagesfirst=True,
        )
    except NotFound:
        return False  # no conversation: nothing arrived
    floor = int(since) - CLOCK_SKEW
    return any(
        int(m.get("useridfrom") or 0) == userid
        and int(m.get("timecreated") or 0) >= floor
        and _same_text(str(m.get("text") or ""), text)
        for m in data.get("messages") or []
    )


def refusal_of(result: dict[str, Any]) -> str | None:
    """Pluto's reason for a refused recipient, None when the message went."""
    if int(result.get("msgid", -1)) > 0:
        return None
    return str(result.get("errormessage") or "Pluto refused the message")
