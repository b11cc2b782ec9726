"""Observed items an audit found unpinned: 1 (useridto=0 means "sent by"), 4 (no group
messaging through web services), 16 (forum notifications wait for the editing window and cron)."""

from __future__ import annotations

import json

import pytest

from sandbox.lms import DemoSeed, SandboxLMS

from .conftest import T0, Client, is_error

# Key order of the rows in observed 7b.
MESSAGE_KEYS_7B = [
    "id",
    "useridfrom",
    "useridto",
    "subject",
    "text",
    "fullmessage",
    "fullmessageformat",
    "fullmessagehtml",
    "smallmessage",
    "notification",
    "contexturl",
    "contexturlname",
    "timecreated",
    "timeread",
    "usertofullname",
    "userfromfullname",
    "customdata",
]
NOTIFICATION_KEYS_7B = [
    *MESSAGE_KEYS_7B[:-1],
    "component",
    "eventtype",
    "customdata",
    "iconurl",
]
POPUP_KEYS_11B = [
    "id",
    "useridfrom",
    "useridto",
    "subject",
    "shortenedsubject",
    "text",
    "fullmessage",
    "fullmessageformat",
    "fullmessagehtml",
    "smallmessage",
    "contexturl",
    "contexturlname",
    "timecreated",
    "timecreatedpretty",
    "timeread",
    "read",
    "deleted",
    "iconurl",
    "component",
    "eventtype",
    "customdata",
]


# --- item 1 ---------------------------------------------------------------------------------


async def test_get_messages_useridto_0_means_sent_by_useridfrom_to_anyone(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    """Observed 7b: as admin, useridto=0 useridfrom=X lists what X sent to anyone, both kinds."""
    to_mentee1 = lms.post_message(seed.mentor_id, seed.mentee1_id, "Hello mentee1 <b>bold</b>")
    lms.clock.advance(1)
    to_mentee2 = lms.post_message(seed.mentor_id, seed.mentee2_id, "Hello mentee2")
    lms.post_message(seed.mentee1_id, seed.mentee2_id, "not from the mentor")
    lms.post_to_conversation(seed.mentor_id, seed.group_conversation_id, "group: never listed (observed 2)")
    lms.clock.advance(1)
    peer = lms.notify(
        seed.mentee1_id,
        subject="Peer notification",
        text="Peer notification (small)",
        component="moodle",
        eventtype="coursecontentupdated",
        useridfrom=seed.mentor_id,
    )
    lms.notify(seed.mentee2_id, subject="from noreply", text="not from the mentor")

    body = await client.call(
        lms.admin_token, "core_message_get_messages", useridto=0, useridfrom=seed.mentor_id, type="both", read=2
    )
    assert list(body) == ["messages", "warnings"] and body["warnings"] == []
    rows = body["messages"]
    assert {r["useridfrom"] for r in rows} == {seed.mentor_id}
    assert {r["useridto"] for r in rows} == {seed.mentee1_id, seed.mentee2_id}  # anyone, not one user
    messages = [(r["id"], r["useridto"]) for r in rows if r["notification"] == 0]
    assert messages == [(to_mentee2["msgid"], seed.mentee2_id), (to_mentee1["msgid"], seed.mentee1_id)]
    notes = [r for r in rows if r["notification"] == 1]
    assert notes[0]["id"] == peer and notes[0]["eventtype"] == "coursecontentupdated"
    # The mentor taught the course before the mentees enrolled: their welcomes come from him (7b).
    welcomes = sorted(r["useridto"] for r in notes if r["eventtype"] == "enrolcoursewelcomemessage")
    assert welcomes == [seed.mentee1_id, seed.mentee2_id]
    assert [r["timecreated"] for r in rows] == sorted((r["timecreated"] for r in rows), reverse=True)
    # Row shapes as observed 7b: personal messages carry no component/eventtype/iconurl.
    for row in rows:
        expected = NOTIFICATION_KEYS_7B if row["notification"] else MESSAGE_KEYS_7B
        assert list(row) == expected
    [first] = [r for r in rows if r["id"] == to_mentee1["msgid"] and r["notification"] == 0]
    assert first["subject"] == "New message from Maya Mentor"
    assert (first["usertofullname"], first["userfromfullname"]) == ("Sam Mentee", "Maya Mentor")
    assert first["text"] == "<p>Hello mentee1 &lt;b&gt;bold&lt;/b&gt;</p>" and first["fullmessageformat"] == 2
    assert first["fullmessagehtml"] == "" and first["contexturl"] == "" and first["timeread"] is None
    assert json.loads(first["customdata"])["actionbuttons"] == {"send": "Send"}

    limited = await client.call(
        lms.admin_token, "core_message_get_messages", useridto=0, useridfrom=seed.mentor_id, read=2, limitnum=2
    )
    assert limited["messages"] == rows[:2]
    only_messages = await client.call(
        lms.admin_token,
        "core_message_get_messages",
        useridto=0,
        useridfrom=seed.mentor_id,
        type="conversations",
        read=2,
    )
    assert [r["id"] for r in only_messages["messages"]] == [to_mentee2["msgid"], to_mentee1["msgid"]]


async def test_get_messages_sent_by_another_user_is_access_denied_for_a_learner(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    lms.post_message(seed.mentor_id, seed.mentee2_id, "private")
    mentee1 = lms.issue_token(seed.mentee1_id)
    body = await client.call(mentee1, "core_message_get_messages", useridto=0, useridfrom=seed.mentor_id, read=2)
    assert body == {  # the same check as observed 7e
        "exception": "core\\exception\\moodle_exception",
        "errorcode": "accessdenied",
        "message": "Access denied",
    }
    own = await client.call(
        lms.issue_token(seed.mentor_id),
        "core_message_get_messages",
        useridto=0,
        useridfrom=seed.mentor_id,
        type="conversations",
        read=2,
    )
    assert [r["useridto"] for r in own["messages"]] == [seed.mentee2_id]


# --- item 4 ---------------------------------------------------------------------------------


async def test_create_groups_returns_the_groups_and_makes_no_conversation(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    conversations_before = set(lms.state.conversations)
    body = await client.call(
        lms.admin_token,
        "core_group_create_groups",
        groups=[
            {"courseid": seed.course_id, "name": "Cohort B", "description": "<p>Second cohort</p>"},
            {
                "courseid": seed.course_id,
                "name": "Cohort C",
                "description": "",
                "descriptionformat": 2,
                "enrolmentkey": "k3y",
                "idnumber": "C-1",
                "visibility": 1,
                "participation": 0,
            },
        ],
    )
    assert body == [
        {
            "id": seed.group_id + 1,
            "courseid": seed.course_id,
            "name": "Cohort B",
            "description": "<p>Second cohort</p>",
            "descriptionformat": 1,
            "enrolmentkey": "",
            "idnumber": "",
            "visibility": 0,
            "participation": True,
        },
        {
            "id": seed.group_id + 2,
            "courseid": seed.course_id,
            "name": "Cohort C",
            "description": "",
            "descriptionformat": 2,
            "enrolmentkey": "k3y",
            "idnumber": "C-1",
            "visibility": 1,
            "participation": False,
        },
    ]
    for item in body:
        assert lms.state.groups[item["id"]].conversation_id is None
    assert set(lms.state.conversations) == conversations_before  # observed 4: no group conversation
    # ... so its members never see one, even once they are in the group.
    lms.add_group_member(body[0]["id"], seed.mentee1_id)
    token = lms.issue_token(seed.mentee1_id)
    convs = await client.call(token, "core_message_get_conversations", userid=seed.mentee1_id, type=2)
    assert [c["name"] for c in convs["conversations"]] == ["Cohort A"]


async def test_create_groups_rejects_enablemessaging_and_creates_nothing(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    groups_before = dict(lms.state.groups)
    conversations_before = set(lms.state.conversations)
    for value in (1, 0):
        body = await client.call(
            lms.admin_token,
            "core_group_create_groups",
            groups=[
                {"courseid": seed.course_id, "name": "Fine", "description": ""},
                {"courseid": seed.course_id, "name": "Chatty", "description": "", "enablemessaging": value},
            ],
        )
        assert body == {  # the answer for any unexpected key (as observed 10 and 8c)
            "exception": "core\\exception\\invalid_parameter_exception",
            "errorcode": "invalidparameter",
            "message": "Invalid parameter value detected",
        }
    assert lms.state.groups == groups_before  # the whole call failed, the valid group included
    assert set(lms.state.conversations) == conversations_before


async def test_create_groups_needs_managegroups(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    learner = lms.issue_token(seed.mentee1_id)
    body = await client.call(
        learner,
        "core_group_create_groups",
        groups=[{"courseid": seed.course_id, "name": "Mine", "description": ""}],
    )
    assert body == {
        "exception": "core\\exception\\required_capability_exception",
        "errorcode": "nopermissions",
        "message": "Sorry, but you do not currently have permissions to do that (Manage groups).",
    }
    assert [g.name for g in lms.state.groups.values()] == ["Cohort A"]
    # The course's editing teacher holds moodle/course:managegroups by default.
    made = await client.call(
        lms.issue_token(seed.mentor_id),
        "core_group_create_groups",
        groups=[{"courseid": seed.course_id, "name": "Mentor's", "description": ""}],
    )
    assert [g["name"] for g in made] == ["Mentor's"]


async def test_create_groups_refuses_duplicate_names_and_unknown_courses(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    duplicate = await client.call(
        lms.admin_token,
        "core_group_create_groups",
        groups=[{"courseid": seed.course_id, "name": "Cohort A", "description": ""}],
    )
    assert is_error(duplicate, "invalidparameter")
    same_call = await client.call(
        lms.admin_token,
        "core_group_create_groups",
        groups=[
            {"courseid": seed.course_id, "name": "Twin", "description": ""},
            {"courseid": seed.course_id, "name": "Twin", "description": ""},
        ],
    )
    assert is_error(same_call, "invalidparameter")
    nowhere = await client.call(
        lms.admin_token, "core_group_create_groups", groups=[{"courseid": 999, "name": "X", "description": ""}]
    )
    assert is_error(nowhere, "errorcoursecontextnotvalid")
    assert "(course id:999)" in nowhere["message"]
    assert [g.name for g in lms.state.groups.values()] == ["Cohort A"]


# --- item 16 --------------------------------------------------------------------------------


def _forum_notes(lms: SandboxLMS) -> list[tuple[int, int]]:
    return [(n.useridto, n.timecreated) for n in lms.state.notifications.values() if n.component == "mod_forum"]


async def test_forum_post_notification_waits_for_editing_window_and_cron(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    mentee3 = lms.create_user("mentee3", firstname="Mentee", lastname="Three")
    lms.enrol(seed.course_id, mentee3)  # enrolled, not in the group: still a forum recipient
    ids = lms.forum_post(
        seed.course_id, seed.mentor_id, "Kickoff", "<p>Please introduce yourselves.</p>", forum="Mentoring"
    )
    assert (ids["discussionid"], ids["postid"]) == (1, 1)
    lms.run_cron()
    assert _forum_notes(lms) == []  # still editable
    lms.clock.advance(1800)
    assert lms.run_cron() == []  # created < now - maxeditingtime is strict
    assert _forum_notes(lms) == []
    lms.clock.advance(1)
    assert _forum_notes(lms) == []  # the window alone is not enough: cron must run
    lms.clock.advance(62)
    sent = lms.run_cron()
    delivered_at = T0 + 1863
    assert sorted(_forum_notes(lms)) == [
        (seed.mentee1_id, delivered_at),
        (seed.mentee2_id, delivered_at),
        (mentee3, delivered_at),
    ]  # everyone enrolled but the author, stamped with the cron run (observed 11b)
    assert len(sent) == 3
    lms.clock.advance(3600)
    assert lms.run_cron() == []  # exactly once
    assert len(_forum_notes(lms)) == 3

    token = lms.issue_token(seed.mentee2_id)
    popup = await client.call(token, "message_popup_get_popup_notifications", useridto=0)
    [note] = [n for n in popup["notifications"] if n["component"] == "mod_forum"]
    assert list(note) == POPUP_KEYS_11B
    discuss = f"{lms.url}/mod/forum/discuss.php?d=1#p1"
    assert note["useridfrom"] == seed.mentor_id and note["useridto"] == seed.mentee2_id
    assert note["subject"] == note["shortenedsubject"] == "MENT101: Kickoff"
    assert note["smallmessage"] == "Maya Mentor posted in MENT101: Mentoring: Kickoff"
    assert note["text"] == "<p>Maya Mentor posted in MENT101: Mentoring: Kickoff</p>"
    assert note["fullmessage"].startswith(f"MENT101 -> Forums -> Mentoring -> Kickoff \n{discuss}\nKickoff\n")
    assert "Please introduce yourselves." in note["fullmessage"]
    assert note["fullmessageformat"] == 2
    assert note["fullmessagehtml"].startswith(
        f'<div class="navbar">\n    <div class="container-fluid p-0">\n'
        f'        <a target="_blank" href="{lms.url}/course/view.php?id={seed.course_id}">MENT101</a>\n'
    )
    assert "<p>Please introduce yourselves.</p>" in note["fullmessagehtml"]
    assert (note["contexturl"], note["contexturlname"]) == (discuss, "Kickoff")
    assert note["timecreated"] == delivered_at and note["read"] is False
    assert note["iconurl"] == f"{lms.url}/theme/image.php/boost/mod_forum/1795458244/monologo"
    assert note["eventtype"] == "posts"
    custom = json.loads(note["customdata"])
    assert {k: custom[k] for k in ("cmid", "instance", "discussionid", "postid")} == {
        "cmid": str(ids["cmid"]),
        "instance": str(ids["forumid"]),
        "discussionid": "1",
        "postid": "1",
    }
    assert custom["notificationiconurl"].startswith(lms.url)
    mentor = lms.issue_token(seed.mentor_id)
    own = await client.call(mentor, "message_popup_get_popup_notifications", useridto=0)
    assert all(n["component"] != "mod_forum" for n in own["notifications"])


async def test_forum_post_editing_window_follows_maxeditingtime(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    with pytest.raises(ValueError):
        lms.set_config(maxeditingtime="soon")
    lms.set_config(maxeditingtime=60)  # as on the observed site (11b)
    lms.forum_post(seed.course_id, seed.mentor_id, "First", "<p>one</p>")
    lms.clock.advance(30)
    lms.forum_post(seed.course_id, seed.mentee1_id, "Second", "<p>two</p>")
    lms.clock.advance(33)  # first post: 63 s old; second: 33 s
    lms.run_cron()
    first = [n for n in lms.state.notifications.values() if n.component == "mod_forum"]
    assert sorted(n.useridto for n in first) == [seed.mentee1_id, seed.mentee2_id]
    assert {n.subject for n in first} == {"MENT101: First"}
    lms.clock.advance(30)
    lms.run_cron()
    second = [n for n in lms.state.notifications.values() if n.subject == "MENT101: Second"]
    assert sorted(n.useridto for n in second) == [seed.mentor_id, seed.mentee2_id]
    assert all(n.timecreated == T0 + 93 for n in second)
    body = await client.call(
        lms.admin_token, "core_message_get_messages", useridto=seed.mentee2_id, type="notifications", read=0
    )
    forum_rows = [r for r in body["messages"] if r["component"] == "mod_forum"]
    assert [r["subject"] for r in forum_rows] == ["MENT101: Second", "MENT101: First"]
    assert list(forum_rows[0]) == NOTIFICATION_KEYS_7B
