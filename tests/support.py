"""Helpers tests repeated once per platform, written once: bounded waits, what a person
wrote in the LMS, and the SQL a store runs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bridge.model import ChatIdentity, Platform
from bridge.store.records import Link
from bridge.store.store import Store
from sandbox.lms import DemoSeed, SandboxLMS

WITHIN = 30.0  # generous: only reached when something is wrong, on a loaded machine


async def until(
    predicate: Callable[[], object], within: float = WITHIN, what: str = "condition", *, every: float = 0.05
) -> None:
    """Poll ``predicate()`` (state that sends no notification: the LMS, a store, a sandbox
    list) every ``every`` seconds (longer for a costly predicate, such as one reading a
    sandbox in another process) until it is truthy; fail naming ``what`` after ``within``
    seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(every)


def lms_texts(lms: SandboxLMS | Any, conversation_id: int | None, author: int) -> list[str]:
    """What ``author`` wrote in an LMS conversation, raw as stored, oldest first."""
    if conversation_id is None:
        return []
    return [m["text"] for m in lms.messages_in(conversation_id) if m["useridfrom"] == author]


def item_number(listing: str, kind: str, subject: str) -> str | None:
    """The number the ``tasks`` command gives an open item (``#3 alert: Subject``, the number
    in bold or not), or None when the listing does not show it."""
    found = re.search(r"#(\d+)\W*\s+" + kind + ": " + re.escape(subject), listing)
    return found.group(1) if found else None


def short_id(listing: str, kind: str, subject: str) -> str:
    """``item_number``, which must be there."""
    number = item_number(listing, kind, subject)
    assert number is not None, f"no {kind} {subject!r} in {listing!r}"
    return number


async def link_sam(store: Store, lms: SandboxLMS, seed: DemoSeed, chat_user: str = "111") -> Link:
    """Sam (mentee1) linked straight in ``store`` to a Telegram chat, with his own token (a
    core test's shortcut past the sign-in page)."""
    return await store.save_link(
        ChatIdentity(Platform.TELEGRAM, "", chat_user),
        lms_user_id=seed.mentee1_id,
        lms_username="mentee1",
        lms_fullname="Sam Mentee",
        token=lms.issue_token(seed.mentee1_id),
        room=chat_user,
        address=None,
    )


@contextlib.contextmanager
def statements_of(store: Store) -> Iterator[list[str]]:
    """The SQL statements ``store`` runs inside the block, whitespace folded."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(store.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", record)


async def cli(*args: str) -> tuple[int, str, str]:
    """Run ``pluto-bridge ARGS`` as an operator would; returns (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def link_import(config: Path, rows: list[dict[str, object]], tmp: Path, *, jsonl: bool = False) -> str:
    """``pluto-bridge link import`` of ``rows`` (administrator-issued tokens), from a JSON
    file or, with ``jsonl``, JSON lines; the test fails unless it succeeds. Returns what the
    command printed."""
    path = tmp / ("links.jsonl" if jsonl else "links.json")
    path.write_text("".join(json.dumps(row) + "\n" for row in rows) if jsonl else json.dumps(rows))
    code, out, err = await cli("link", "import", str(path), "--config", str(config))
    assert code == 0, out + err
    return out + err
