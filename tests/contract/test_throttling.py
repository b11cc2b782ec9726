"""One person's chat throttled by the platform while other people's messages flow, on every
platform with limits (the console has none): each chat has its own lane, so a 429 on Sam's
chat holds Sam's messages back, in order, and nobody else's."""

from __future__ import annotations

import asyncio

import pytest

from sandbox.lms import DemoSeed, SandboxLMS

from .conftest import DRIVERS
from .drivers.base import ALEX, SAM, ChatDriver

pytestmark = pytest.mark.e2e

DRIVER_NAMES = [name for name in DRIVERS if name != "console"]  # the console has no limits

REFUSALS = 2
RETRY_AFTER = 4  # seconds: Sam's chat is held for at least 8 s after its first refusal


def lines(texts: list[str], prefix: str) -> list[str]:
    """The numbered test lines (``prefix`` 1, 2, ...) the person read, in the order shown."""
    return [word for text in texts for word in text.split() if word.startswith(prefix)]


async def test_a_throttled_chat_waits_while_other_people_get_theirs(
    driver: ChatDriver, lms: SandboxLMS, seed: DemoSeed
) -> None:
    await driver.link(SAM, "mentee1")
    await driver.link_person(ALEX, "mentee2")
    driver.throttle(SAM, sends=REFUSALS, retry_after=RETRY_AFTER)
    for n in (1, 2, 3):
        lms.post_message(seed.mentor_id, seed.mentee1_id, f"Maya to Sam: sam-{n}")
    # Sam's lane is now waiting out the platform's retry-after...
    await driver.wait_for(lambda: driver.refused(SAM) >= 1, "the platform refusing a post to Sam's chat")
    for n in (1, 2, 3):
        lms.post_message(seed.mentor_id, seed.mentee2_id, f"Maya to Alex: alex-{n}")

    # ...while Alex's messages go through, all of them, before any of Sam's.
    await driver.see(ALEX, "alex-3")
    assert lines(driver.texts(ALEX), "alex-") == ["alex-1", "alex-2", "alex-3"]
    assert lines(driver.texts(SAM), "sam-") == [], "Sam's chat was throttled, yet a message got through"

    # Once the platform lets it, Sam gets every message, once and in order.
    await driver.see(SAM, "sam-3", within=REFUSALS * RETRY_AFTER + 20)
    await asyncio.sleep(1)  # a duplicate from a retry would show by now
    assert lines(driver.texts(SAM), "sam-") == ["sam-1", "sam-2", "sam-3"]
    assert driver.refused(SAM) == REFUSALS
    assert driver.refused(ALEX) == 0
