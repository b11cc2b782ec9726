"""The people of the room scenarios, for suites outside the contract that drive one
platform's rooms with its contract driver."""

from __future__ import annotations

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.lms.seed import DEMO_PASSWORD

from .drivers.base import ALEX, SAM, ChatDriver

RORY = "rory"


async def start_with_people(chat: ChatDriver, lms: SandboxLMS, seed: DemoSeed) -> None:
    """Start ``chat`` with Sam, Alex and Rory linked; Rory is in the course, not the group."""
    rory = lms.create_user(RORY, DEMO_PASSWORD, "Rory", "Outsider")
    lms.enrol(seed.course_id, rory)
    await chat.start()
    await chat.link(SAM, "mentee1")
    await chat.link_person(ALEX, "mentee2")
    await chat.link_person(RORY, RORY)
