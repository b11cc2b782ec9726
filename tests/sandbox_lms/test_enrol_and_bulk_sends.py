"""What a bulk message from chat reads and sends, as Moodle 4.5 answers it: a teacher's
courses, a course's participants (group filter, capability filter, who sees groups) and a
batch of ``send_instant_messages`` with a result per recipient."""

from __future__ import annotations

from typing import Any

from sandbox.lms import DemoSeed, SandboxLMS

from .conftest import Client, is_error

PREFERENCES = "You can't message this user due to their message preferences. Try adding them as a contact."


def course_with_group(lms: SandboxLMS, seed: DemoSeed) -> tuple[int, int, int]:
    """A non-editing teacher and a student outside "Cohort A" join MENT101."""
    tutor = lms.create_user("tutor", "Passw0rd!", "Tara", "Tutor")
    outsider = lms.create_user("mentee3", "Passw0rd!", "Jo", "Mentee")
    lms.enrol(seed.course_id, tutor, "teacher")
    lms.enrol(seed.course_id, outsider, "student")
    return tutor, outsider, seed.group_id


async def test_users_courses_lists_own_courses_with_counts(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    other = lms.create_course("OTHER1", "Other course")
    stranger = lms.create_user("stranger", "Passw0rd!", "Sol", "Stranger")
    lms.enrol(other, stranger, "student")
    lms.enrol(other, seed.mentee1_id, "student")
    token = lms.issue_token(seed.mentor_id)
    mine = await client.call(token, "core_enrol_get_users_courses", userid=seed.mentor_id)
    assert [(c["id"], c["shortname"], c["fullname"], c["enrolledusercount"]) for c in mine] == [
        (seed.course_id, "MENT101", "Mentoring 101", 3)
    ]
    # About someone else: only courses whose participants the caller may view.
    theirs = await client.call(token, "core_enrol_get_users_courses", userid=seed.mentee1_id)
    assert [c["id"] for c in theirs] == [seed.course_id]
    without_count = await client.call(
        token, "core_enrol_get_users_courses", userid=seed.mentor_id, returnusercount=False
    )
    assert "enrolledusercount" not in without_count[0]


async def test_enrolled_users_of_a_course_the_caller_is_not_in(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    stranger = lms.create_user("stranger", "Passw0rd!", "Sol", "Stranger")
    body = await client.call(lms.issue_token(stranger), "core_enrol_get_enrolled_users", courseid=seed.course_id)
    assert is_error(body, "errorcoursecontextnotvalid")
    assert body["message"].endswith("Course or activity not accessible. (Not enrolled)")


async def test_group_filter_and_who_may_use_it(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    tutor, outsider, group = course_with_group(lms, seed)
    options = [{"name": "groupid", "value": str(group)}]
    as_mentor = await client.call(
        lms.issue_token(seed.mentor_id), "core_enrol_get_enrolled_users", courseid=seed.course_id, options=options
    )
    assert {u["id"] for u in as_mentor} == {seed.mentor_id, seed.mentee1_id, seed.mentee2_id}
    assert all(
        u["groups"] == [{"id": group, "name": "Cohort A", "description": "", "descriptionformat": 1}] for u in as_mentor
    )  # an editing teacher sees every group
    # A non-editing teacher outside the group lacks moodle/site:accessallgroups.
    body = await client.call(
        lms.issue_token(tutor), "core_enrol_get_enrolled_users", courseid=seed.course_id, options=options
    )
    assert is_error(body, "nopermissions") and "(Access all groups)" in body["message"]
    everyone = await client.call(lms.issue_token(tutor), "core_enrol_get_enrolled_users", courseid=seed.course_id)
    assert outsider in {u["id"] for u in everyone} and all("groups" not in u for u in everyone)
    # A group member may filter by their own group.
    as_member = await client.call(
        lms.issue_token(seed.mentee1_id), "core_enrol_get_enrolled_users", courseid=seed.course_id, options=options
    )
    assert {u["id"] for u in as_member} == {seed.mentor_id, seed.mentee1_id, seed.mentee2_id}


async def test_withcapability_lists_who_may_bulk_message(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    tutor, _outsider, _group = course_with_group(lms, seed)
    options = [{"name": "withcapability", "value": "moodle/course:bulkmessaging"}]
    holders = await client.call(
        lms.issue_token(tutor), "core_enrol_get_enrolled_users", courseid=seed.course_id, options=options
    )
    assert {u["id"] for u in holders} == {seed.mentor_id, tutor}
    body = await client.call(
        lms.issue_token(seed.mentee1_id), "core_enrol_get_enrolled_users", courseid=seed.course_id, options=options
    )
    assert is_error(body, "nopermissions") and "(Review permissions for others)" in body["message"]
    # A site that takes bulk messaging from non-editing teachers.
    lms.set_role_capability("teacher", "moodle/course:bulkmessaging", False)
    holders = await client.call(
        lms.issue_token(tutor), "core_enrol_get_enrolled_users", courseid=seed.course_id, options=options
    )
    assert {u["id"] for u in holders} == {seed.mentor_id}


async def test_a_batch_answers_per_recipient_in_order(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    _tutor, outsider, _group = course_with_group(lms, seed)
    lms.set_preference(seed.mentee2_id, "message_blocknoncontacts", "1")
    lms.block(outsider, seed.mentor_id)
    token = lms.issue_token(seed.mentor_id)

    def batch(tag: str) -> list[dict[str, Any]]:
        return [
            {"touserid": uid, "text": f"Week 3 {tag}", "textformat": 2, "clientmsgid": f"pb-bulk-{tag}-{uid}"}
            for uid in (seed.mentee1_id, seed.mentee2_id, outsider, 99999)
        ]

    # By default a teacher holds moodle/site:messageanyuser in the course: privacy and blocks
    # give way (domain.md 2.2 step 4); an unknown user is still refused, inline.
    results = await client.call(token, "core_message_send_instant_messages", messages=batch("a"))
    assert [r["clientmsgid"] for r in results] == [
        f"pb-bulk-a-{u}" for u in (seed.mentee1_id, seed.mentee2_id, outsider, 99999)
    ]
    assert [r["msgid"] > 0 for r in results] == [True, True, True, False]
    assert results[3]["errormessage"] == "You cannot send a message to a user ID (99999) that doesn't exist."
    # A site whose teachers may not ignore privacy: contacts-only and blocked are refused,
    # each on its own line, with Moodle's text naming nobody (observed 11, 25, 27).
    lms.set_role_capability("editingteacher", "moodle/site:messageanyuser", False)
    results = await client.call(token, "core_message_send_instant_messages", messages=batch("b"))
    assert [r["msgid"] > 0 for r in results] == [True, False, False, False]
    assert [r.get("errormessage") for r in results[1:3]] == [PREFERENCES, PREFERENCES]
    assert results[1] == {
        "msgid": -1,
        "clientmsgid": f"pb-bulk-b-{seed.mentee2_id}",
        "errormessage": PREFERENCES,
        "candeletemessagesforallusers": False,
    }
    conv = lms.conversation_between(seed.mentor_id, seed.mentee2_id)
    assert [m["text"] for m in lms.messages_in(conv or 0)] == ["Week 3 a"]  # the refused one never arrived


async def test_one_bad_clientmsgid_fails_the_whole_batch(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    token = lms.issue_token(seed.mentor_id)
    messages = [
        {"touserid": seed.mentee1_id, "text": "a", "textformat": 2, "clientmsgid": "ok-1"},
        {"touserid": seed.mentee2_id, "text": "b", "textformat": 2, "clientmsgid": "bad:2"},
    ]
    body = await client.call(token, "core_message_send_instant_messages", messages=messages)
    assert is_error(body, "invalidparameter")  # observed 10
    assert lms.conversation_between(seed.mentor_id, seed.mentee1_id) is None  # nothing of it was sent
