"""Helpers tests repeated once per platform, written once: bounded waits and what a person
wrote in the LMS."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sandbox.lms import SandboxLMS

WITHIN = 30.0  # generous: only reached when something is wrong, on a loaded machine


async def until(predicate: Callable[[], object], within: float = WITHIN, what: str = "condition") -> None:
    """Poll ``predicate()`` (state that sends no notification: the LMS, a store, a sandbox
    list) until it is truthy; fail naming ``what`` after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def lms_texts(lms: SandboxLMS | Any, conversation_id: int | None, author: int) -> list[str]:
    """What ``author`` wrote in an LMS conversation, raw as stored, oldest first."""
    if conversation_id is None:
        return []
    return [m["text"] for m in lms.messages_in(conversation_id) if m["useridfrom"] == author]
