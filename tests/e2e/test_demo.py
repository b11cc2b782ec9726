"""``pluto-bridge demo --scripted``: the walkthrough shows more than a private conversation
(issue 17): a group message, an alert with its button and a task, and the LMS gets the
replies and the press."""

from __future__ import annotations

import pytest

from bridge.demo import run_demo

pytestmark = pytest.mark.e2e


async def test_the_scripted_demo_shows_a_group_message_an_alert_and_a_task() -> None:
    shown: list[str] = []
    assert await run_demo(scripted=True, echo=shown.append) == 0, "\n".join(shown[-20:])
    transcript = "\n".join(shown)
    assert "Maya Mentor · Cohort A\n\nCohort A: our call moves to Friday." in transcript
    assert "Essay 1 is due tomorrow" in transcript and "[1] Mark read" in transcript
    assert "Contact request from Alex Mentee" in transcript and "[1] Accept  [2] Decline" in transcript
    assert "[Pluto LMS] Cohort A (group) | Sam Mentee: Friday works for me." in transcript
    assert "Marked read by Sam Mentee" in transcript
