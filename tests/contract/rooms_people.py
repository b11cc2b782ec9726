"""The people of the room scenarios, for suites outside the contract that drive one
platform's rooms with its contract driver."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TypeVar

from sandbox.lms import DemoSeed, SandboxLMS
from sandbox.lms.seed import DEMO_PASSWORD

from .drivers.base import ALEX, SAM, ChatDriver

RORY = "rory"
D = TypeVar("D", bound=ChatDriver)


@contextlib.asynccontextmanager
async def with_people(chat: D, lms: SandboxLMS, seed: DemoSeed) -> AsyncIterator[D]:
    """``chat`` started with Sam, Alex and Rory linked (Rory is in the course, not the
    group), and stopped afterwards."""
    try:
        rory = lms.create_user(RORY, DEMO_PASSWORD, "Rory", "Outsider")
        lms.enrol(seed.course_id, rory)
        await chat.start()
        await chat.link(SAM, "mentee1")
        await chat.link_person(ALEX, "mentee2")
        await chat.link_person(RORY, RORY)
        yield chat
    finally:
        await chat.stop()
