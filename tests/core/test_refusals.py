"""Moodle's refusal texts (which name nobody, moodle-4.5-observed.md item 25) retold with the name."""

from __future__ import annotations

import pytest

from bridge.lms.refusals import explain_refusal


@pytest.mark.parametrize(
    ("reason", "name", "shown"),
    [
        (
            "You can't message this user due to their message preferences. Try adding them as a contact.",
            "Priya Nair",
            "Priya Nair accepts messages from contacts only, or has blocked you. "
            "A contact request in Pluto, once accepted, lets your messages through.",
        ),
        ("You cannot send a message to a user ID (99999) that doesn't exist.", None,
         "This person no longer has a Pluto account."),
        ("User 5 cannot send a message to conversation 9", "Cohort A",
         "you cannot write in Cohort A (you may no longer be a member, or it is closed)."),
        ("This user has blocked you from sending messages to them.", "Alex Mentee",
         "Alex Mentee has blocked you from sending them messages."),
        ("Priya Nair only accepts messages from their contacts.", "Priya Nair",
         "Priya Nair only accepts messages from their contacts."),  # Totara names them already
    ],
)
def test_refusals_name_the_recipient(reason: str, name: str | None, shown: str) -> None:
    assert explain_refusal(reason, name) == shown
