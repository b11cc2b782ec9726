"""``core_message_message_search_users`` answers as Moodle 4.5's ``api::message_search_users``
does (moodle-4.5-observed.md item 19): the way an ordinary user finds people."""

from __future__ import annotations

from typing import Any

from sandbox.lms import DemoSeed, SandboxLMS

from .conftest import Client


async def search(client: Client, token: str, userid: int, text: str, **paging: int) -> dict[str, list[int]]:
    found = await client.call(token, "core_message_message_search_users", userid=userid, search=text, **paging)
    return {key: [u["id"] for u in found[key]] for key in ("contacts", "noncontacts")}


async def test_contacts_and_non_contacts_apart_each_by_name(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    sam = lms.issue_token(seed.mentee1_id)
    other_maya = lms.create_user("maya2", firstname="Maya", lastname="Adams")
    lms.enrol(seed.course_id, other_maya)
    lms.add_contact(seed.mentor_id, seed.mentee1_id)  # made from the other side: contacts both ways
    assert await search(client, sam, seed.mentee1_id, "maya") == {
        "contacts": [seed.mentor_id],
        "noncontacts": [other_maya],
    }


async def test_only_people_the_caller_may_see(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    sam = lms.issue_token(seed.mentee1_id)
    stranger = lms.create_user("stranger", firstname="Maya", lastname="Elsewhere")  # shares no course
    assert await search(client, sam, seed.mentee1_id, "Maya") == {"contacts": [], "noncontacts": [seed.mentor_id]}
    lms.set_config(messagingallusers=True)  # site-wide messaging: anyone whose profile shows anywhere
    assert await search(client, sam, seed.mentee1_id, "Maya") == {
        "contacts": [],
        "noncontacts": [stranger, seed.mentor_id],  # "Maya Elsewhere" before "Maya Mentor"
    }


async def test_paging_applies_to_each_list(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    sam = lms.issue_token(seed.mentee1_id)
    mayas = []
    for n in range(3):
        mayas.append(lms.create_user(f"maya{n}", firstname="Maya", lastname=f"Z{n}"))
        lms.enrol(seed.course_id, mayas[-1])
    lms.add_contact(seed.mentee1_id, mayas[2])
    everyone = [seed.mentor_id, mayas[0], mayas[1]]  # "Maya Mentor" < "Maya Z0" < "Maya Z1"
    assert (await search(client, sam, seed.mentee1_id, "maya"))["noncontacts"] == everyone
    page = await search(client, sam, seed.mentee1_id, "maya", limitfrom=1, limitnum=1)
    assert page == {"contacts": [], "noncontacts": [mayas[0]]}
    page = await search(client, sam, seed.mentee1_id, "maya", limitfrom=0, limitnum=2)
    assert page == {"contacts": [mayas[2]], "noncontacts": everyone[:2]}


async def test_the_caller_is_found_too_and_empty_text_finds_everyone(
    lms: SandboxLMS, seed: DemoSeed, client: Client
) -> None:
    sam = lms.issue_token(seed.mentee1_id)
    # Everyone has a self-conversation (observed 8), so Moodle lists the caller as well.
    assert await search(client, sam, seed.mentee1_id, "Sam") == {"contacts": [], "noncontacts": [seed.mentee1_id]}
    assert await search(client, sam, seed.mentee1_id, "") == {
        "contacts": [],
        "noncontacts": [seed.mentee2_id, seed.mentor_id, seed.mentee1_id],  # Alex, Maya, Sam
    }


async def test_records_name_nobody_beyond_the_member_fields(lms: SandboxLMS, seed: DemoSeed, client: Client) -> None:
    sam = lms.issue_token(seed.mentee1_id)
    found = await client.call(sam, "core_message_message_search_users", userid=seed.mentee1_id, search="Alex")
    [alex] = found["noncontacts"]
    record: dict[str, Any] = alex
    assert record["fullname"] == "Alex Mentee" and record["iscontact"] is False
    assert not {"username", "email", "idnumber"} & set(record)
    assert "mentee2" not in str(record)  # the login name leaks nowhere (observed 19)
    # Moodle adds no privacy info here: whether a person may be messaged is learnt by sending.
    assert record["canmessage"] is None and record["requirescontact"] is None
