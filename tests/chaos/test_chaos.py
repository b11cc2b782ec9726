"""Chaos: the real bridge process killed with SIGKILL again and again while it sends and
while people write, against the sandbox LMS and chat platform, each a process of its own
started through its CLI and driven through ``sandbox.control`` (issue 12).

Asserts, after everything has settled: 0 LMS messages lost, 0 chat messages lost, 0 chat
messages stored twice in the LMS, 0 replies in another conversation, and at most one
duplicate per crash per chat. Prints the counts.

Short form by default (CI, a few minutes per platform); ``CHAOS_CRASHES=20
CHAOS_PEOPLE=10 python -m pytest -n 0 -s -m chaos tests/chaos`` for the long run.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sandbox.control import Remote, RemoteError
from tests.e2e.harness import BridgeProcess, SandboxProcess, poll_until
from tests.e2e.test_crash_recovery import link_over_telegram, telegram_config, texts
from tests.platforms.slack.e2e_support import T1, SlackChat, populate, shown, slack_config

CRASHES = int(os.environ.get("CHAOS_CRASHES", "4"))
PEOPLE = int(os.environ.get("CHAOS_PEOPLE", "3"))
PER_ROUND = int(os.environ.get("CHAOS_MESSAGES", "3"))  # LMS messages per person per round
SETTLE = float(os.environ.get("CHAOS_SETTLE", "180"))
PUSH_FOR = 300.0  # seconds Slack's side keeps pushing an event the bridge has not taken

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.timeout(600 + 60 * CRASHES)]


@dataclass
class Person:
    lms_id: int
    username: str
    chat_id: str  # Telegram user id or Slack user id


@dataclass
class Tally:
    """What was sent each way, and the crash count, for the final check."""

    crashes: int = 0
    from_lms: dict[str, list[str]] = field(default_factory=dict)  # username -> texts
    from_chat: dict[str, list[str]] = field(default_factory=dict)


class Platform:
    """One chat platform as the chaos run drives it."""

    name = ""

    async def start(self) -> None: ...
    async def drained(self) -> None:
        """Everything people wrote has been handed to the platform's side for good."""

    async def kill(self) -> None: ...
    async def stop(self) -> None: ...
    async def link(self, person: Person) -> None: ...
    def say(self, person: Person, text: str) -> None: ...
    def seen(self, person: Person) -> list[str]:
        return []


@asynccontextmanager
async def sandbox_process(module: str, tmp_path: Path) -> AsyncIterator[Remote]:
    """The sandbox ``module`` run by its CLI in a process of its own; yields its stand-in."""
    process = SandboxProcess(module, log=tmp_path / f"{module}.log")
    try:
        yield await process.start()
    finally:
        await process.stop()


@pytest.fixture
async def lms(tmp_path: Path) -> AsyncIterator[Remote]:
    """The sandbox LMS in its own process (replaces the in-process fixture here)."""
    async with sandbox_process("sandbox.lms", tmp_path) as remote:
        yield remote


@pytest.fixture
def seed(lms: Remote) -> Any:
    """The demo seed, created in the LMS process (its fields as a namespace)."""
    return lms.seed_demo()


def add_people(lms: Any, seed: Any, chat_ids: list[str]) -> list[Person]:
    people = []
    for n, chat_id in enumerate(chat_ids):
        username = f"chaos{n}"
        uid = lms.create_user(username, firstname="Chaos", lastname=f"Person {n}")
        lms.enrol(seed.course_id, uid)
        people.append(Person(uid, username, chat_id))
    return people


def db_settled(db: Path) -> bool:
    with sqlite3.connect(db) as conn:
        busy = conn.execute("SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')").fetchone()[0]
        open_events = conn.execute("SELECT count(*) FROM processed_events WHERE status = 'received'").fetchone()[0]
    return busy == 0 and open_events == 0


async def run_chaos(platform: Platform, lms: Any, seed: Any, people: list[Person], db: Path) -> str:
    """Drive the run; returns the counts as one line (asserted here, printed by the test)."""
    rng = random.Random(12)
    tally = Tally()
    await platform.start()
    for person in people:
        await platform.link(person)
        first = f"hello {person.username}"
        lms.post_message(seed.mentor_id, person.lms_id, first)  # their current conversation
        tally.from_lms[person.username] = [first]
        tally.from_chat[person.username] = []
    def greeted() -> bool:
        return all(tally.from_lms[p.username][0] in "\n".join(platform.seen(p)) for p in people)

    await poll_until(greeted, 60, "the first message to everyone")

    for crash in range(CRASHES):
        for person in people:
            for k in range(PER_ROUND):
                text = f"lms {person.username} r{crash} m{k}"
                lms.post_message(seed.mentor_id, person.lms_id, text)
                tally.from_lms[person.username].append(text)
            said = f"chat {person.username} r{crash}"
            platform.say(person, said)
            tally.from_chat[person.username].append(said)
        # The crash moment is the point of the test: somewhere in the middle of sending.
        await asyncio.sleep(rng.uniform(0.3, 2.5))
        await platform.kill()
        tally.crashes += 1
        await platform.start()

    def all_arrived() -> bool:
        stored = "\n".join(m.text for m in lms.state.messages.values())
        for person in people:
            if any(t not in stored for t in tally.from_chat[person.username]):
                return False
            seen = "\n".join(platform.seen(person))
            if any(t not in seen for t in tally.from_lms[person.username]):
                return False
        return True

    try:
        await platform.drained()
        await poll_until(all_arrived, SETTLE, "every message both ways", every=0.5)
        await poll_until(lambda: db_settled(db), 60, "the outbox and the inbound journal to settle")
    finally:
        await platform.stop()

    lost_lms = duplicates_worst = lost_chat = stored_twice = misdirected = 0
    duplicates = 0
    messages = list(lms.state.messages.values())
    for person in people:
        seen = platform.seen(person)
        copies = Counter(t for t in tally.from_lms[person.username] for s in seen if s.endswith(t) or f"\n{t}" in s)
        lost_lms += sum(1 for t in tally.from_lms[person.username] if copies[t] == 0)
        extra = sum(max(0, n - 1) for n in copies.values())
        duplicates += extra
        duplicates_worst = max(duplicates_worst, extra)
        conversation = lms.conversation_between(seed.mentor_id, person.lms_id)
        for said in tally.from_chat[person.username]:
            where = [m.conversationid for m in messages if m.text == said]
            lost_chat += not where
            stored_twice += max(0, len(where) - 1)
            misdirected += sum(1 for c in where if c != conversation)
    total_lms = sum(len(v) for v in tally.from_lms.values())
    total_chat = sum(len(v) for v in tally.from_chat.values())
    figures = (
        f"chaos {platform.name}: {tally.crashes} SIGKILLs, {len(people)} people; LMS->chat {total_lms} sent, "
        f"{lost_lms} lost, {duplicates} duplicates (worst chat {duplicates_worst}); chat->LMS {total_chat} sent, "
        f"{lost_chat} lost, {stored_twice} stored twice, {misdirected} in another conversation"
    )
    print("\n" + figures)
    assert (lost_lms, lost_chat, stored_twice, misdirected) == (0, 0, 0, 0), figures
    assert duplicates_worst <= tally.crashes, figures  # at most one per crash per chat
    return figures


class TelegramChaos(Platform):
    name = "telegram"

    def __init__(self, tg: Any, config: Path) -> None:
        self.tg = tg
        self.config = config
        self.bridge: BridgeProcess | None = None

    async def start(self) -> None:
        calls = len(self.tg.calls("getUpdates"))
        self.bridge = await BridgeProcess(self.config).start()
        await self.tg.wait_until(lambda: len(self.tg.calls("getUpdates")) > calls, within=30)

    async def kill(self) -> None:
        assert self.bridge is not None
        await self.bridge.kill()

    async def stop(self) -> None:
        if self.bridge is not None:
            await self.bridge.stop()

    async def link(self, person: Person) -> None:
        await link_over_telegram(self.tg, person.username, int(person.chat_id))

    def say(self, person: Person, text: str) -> None:
        self.tg.user_sends_text(int(person.chat_id), text)

    def seen(self, person: Person) -> list[str]:
        return texts(self.tg, int(person.chat_id))


async def test_chaos_telegram(
    lms: Remote, seed: Any, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    async with sandbox_process("sandbox.telegram", tmp_path) as tg:  # Telegram's limits enforced
        ids = [str(7000 + n) for n in range(PEOPLE)]
        for chat_id in ids:
            tg.add_user(int(chat_id), f"P{chat_id}", started=True)
        people = add_people(lms, seed, ids)
        platform = TelegramChaos(tg, telegram_config(tmp_path, lms, tg)[0])  # type: ignore[arg-type]
        record_property("figure", await run_chaos(platform, lms, seed, people, tmp_path / "bridge.sqlite3"))


class SlackChaos(Platform):
    name = "slack"

    def __init__(self, slack: Any, config: Path, port: int) -> None:
        self.slack = slack
        self.config = config
        self.port = port
        self.chat: SlackChat | None = None
        self._said: list[asyncio.Future[None]] = []

    async def start(self) -> None:
        self.chat = await SlackChat.start(self.slack, self.config, self.port, "http")

    async def kill(self) -> None:
        assert self.chat is not None
        await self.chat.process.kill()

    async def stop(self) -> None:
        if self.chat is not None:
            await self.chat.stop()

    async def link(self, person: Person) -> None:
        assert self.chat is not None
        await self.chat.link(T1, person.chat_id, person.username)

    def say(self, person: Person, text: str) -> None:
        self._said.append(asyncio.ensure_future(self._push(person, text)))

    async def _push(self, person: Person, text: str) -> None:
        """Slack's side: the event is pushed, and pushed again (same event id) while the
        bridge does not answer 200, for up to PUSH_FOR seconds (Slack retries thrice over
        about five minutes; more often here, so a restart under load is bridged)."""
        event = self.slack.user_message(T1, person.chat_id, text)
        event_id = f"EvCHAOS{uuid.uuid4().hex[:12]}"
        deadline = time.monotonic() + PUSH_FOR
        attempt, last = 0, "no answer"
        while time.monotonic() < deadline:
            try:
                _, result = await self.slack.sign_and_post_event(
                    T1, event, event_id=event_id, retry_num=attempt or None
                )
                if result.status == 200:
                    return
                last = f"HTTP {result.status}"
            except (aiohttp.ClientError, OSError, RemoteError) as exc:
                last = str(exc)[:200]  # the bridge is down: Slack tries again later
            attempt += 1
            await asyncio.sleep(1.0)
        raise AssertionError(f"Slack gave up pushing {text!r} after {attempt} tries; the last: {last}")

    def seen(self, person: Person) -> list[str]:
        return [shown(m) for m in self.slack.dm(T1, person.chat_id).messages if m.get("bot_id")]

    async def drained(self) -> None:
        await asyncio.gather(*self._said)


async def test_chaos_slack(
    lms: Remote, seed: Any, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    async with sandbox_process("sandbox.slack", tmp_path) as slack:  # Slack's limits enforced
        populate(slack)
        ids = [f"UCHAOS{n}" for n in range(PEOPLE)]
        for n, user in enumerate(ids):
            slack.add_user(T1, user, f"chaos{n}", real_name=f"Chaos Person {n}")
        people = add_people(lms, seed, ids)
        config, port = slack_config(tmp_path, lms.url, slack, "http")  # type: ignore[arg-type]
        figures = await run_chaos(SlackChaos(slack, config, port), lms, seed, people, tmp_path / "bridge.sqlite3")
        record_property("figure", figures)
