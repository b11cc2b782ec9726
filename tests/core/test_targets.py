"""What a NAME typed with ``to`` or ``msg`` means (bridge.inbound.targets)."""

from __future__ import annotations

from bridge.inbound.targets import best, longest_name, name_of, people_targets
from bridge.lms.api import Member
from bridge.store.people import Target

MAYA_M = Target(11, 3, "Maya Mentor")
MAYA_L = Target(None, 7, "Maya Lee")
COHORT = Target(1, None, "Cohort A")
AMAYA = Target(None, 9, "Amaya Ross")


def test_the_exact_name_wins_then_a_word_start_then_any_part() -> None:
    everyone = [MAYA_M, MAYA_L, COHORT, AMAYA]
    assert best(everyone, "maya  mentor") == [MAYA_M]  # case and spaces aside
    assert best(everyone, "Maya") == [MAYA_M, MAYA_L]  # a word starts with it: not "Amaya"
    assert best(everyone, "Lee") == [MAYA_L]
    assert best(everyone, "aya") == [MAYA_M, MAYA_L, AMAYA]  # only parts: all of them
    assert best(everyone, "cohort") == [COHORT]
    assert best(everyone, "Zebulon") == [] and best(everyone, "  ") == []


def test_msg_takes_the_longest_whole_name_else_one_word() -> None:
    everyone = [MAYA_M, MAYA_L, COHORT]
    assert longest_name(everyone, "Maya Lee see you at noon".split()) == 2
    assert longest_name(everyone, "Cohort A: call at 5".split()) == 2  # a colon may end the NAME
    assert name_of("Cohort A:".split()) == "Cohort A" and name_of(["Maya:"]) == "Maya"
    assert longest_name(everyone, "Maya hello".split()) == 1
    assert longest_name(everyone, "Maya Lee".split()) == 1  # the text cannot be empty


def test_a_person_with_a_conversation_is_listed_once_through_it() -> None:
    found = [Member(3, "Maya Mentor"), Member(7, "Maya Lee")]
    assert people_targets(found, [MAYA_M, COHORT]) == [MAYA_L]
