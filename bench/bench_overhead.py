"""Benchmark: the bridge's cost per delivery against the raw SDK sending the same rendered
texts to the same sandbox, pacing off, for Telegram and Slack (each keeping its
connections alive: python-telegram-bot's own pool, one aiohttp session for slack_sdk).

The sandbox runs in this process; each measured side runs in a process of its own, which
times only its sending (CPU: ``time.process_time``, every thread of it; wall: from the
first send to the last record). "raw" is the platform's SDK (python-telegram-bot,
slack_sdk) sending the posts the bridge renders, the same request bodies, from one task
per chat. "bridge" is the dispatcher with the real adapter and a SQLite store: each
delivery read from the outbox, rendered, marked "sending", sent and recorded "sent" with
its message-map row. Sides alternate, round after round; ``--against TREE`` adds the
bridge of another checkout (today's main, say) as a baseline column. ``--breakdown`` adds
the bridge with its adapter's send answered at once, without the SDK or a request (the
dispatcher's own cost: outbox reads, rendering, pacing, marks), and prints the CPU that
rendering the same posts takes alone.

Run: .venv/bin/python bench/bench_overhead.py [--messages N] [--chats K] [--rounds R]
     [--against /tmp/base-dispatch] [--breakdown]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SELF = Path(__file__).resolve()
ROOT = SELF.parent.parent
TELEGRAM_TOKEN = "123456789:SANDBOX-token_for-tests"
SLACK_TEAM, SLACK_TOKEN, SLACK_SECRET = "T0BENCH", "xoxb-bench", "bench-secret"
FIRST_CHAT = 5001
HTML = "<p><b>Maya Mentor</b> (Course 101)</p><p>Message {n}: <b>keep going</b> &amp; see the <a href=\"https://pluto.example/course/view.php?id=2\">course page</a>.</p>"  # noqa: E501


def slack_user(i: int) -> str:
    return f"U0B{i:04d}"


# --- the measured sides (child processes) -------------------------------------------------


async def recorded(store: Any) -> None:
    """Until every delivery's "sent" is recorded (the platform has them all already)."""
    while await store.pending_lanes() or await store.deliveries(status="sending"):  # noqa: ASYNC110
        await asyncio.sleep(0.002)


async def _links(store: Any, platform: Any, rooms: list[str], users: list[str]) -> list[Any]:
    from bridge.model import ChatIdentity, Platform

    workspace = SLACK_TEAM if platform is Platform.SLACK else ""
    return [
        await store.save_link(
            ChatIdentity(platform, workspace, user), lms_user_id=n + 1, lms_username=f"p{n}",
            lms_fullname=f"Person {n}", token=f"tok-{n}", room=room, address=None,
        )
        for n, (room, user) in enumerate(zip(rooms, users, strict=True))
    ]  # fmt: skip


def _adapter(platform_name: str, api_url: str) -> Any:
    if platform_name == "telegram":
        from adapters.telegram import TelegramAdapter

        return TelegramAdapter(token=TELEGRAM_TOKEN, base_url=api_url)
    from adapters.slack import SlackAdapter

    return SlackAdapter(workspaces={SLACK_TEAM: SLACK_TOKEN}, signing_secret=SLACK_SECRET, api_base_url=api_url)


def _unpaced(adapter: Any) -> None:
    """Pacing off: the figure is the bridge's own cost, not the platform's limits."""
    adapter.capabilities = dataclasses.replace(adapter.capabilities, per_room=(), overall=())


async def bridge_side(
    platform_name: str, api_url: str, rooms: list[str], users: list[str], messages: int, stub: bool = False
) -> dict:
    from bridge.config import OutboxSettings
    from bridge.model import Platform, SentRef
    from bridge.outbox import Dispatcher
    from bridge.posts import render_post
    from bridge.router import notice
    from bridge.store.crypto import new_key
    from bridge.store.store import Store

    platform = Platform(platform_name)
    adapter = _adapter(platform_name, api_url)
    _unpaced(adapter)
    await adapter.start(_no_events)
    store = await Store.open(f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.db", new_key())
    links = await _links(store, platform, rooms, users)
    await store.enqueue([notice(links[n % len(links)], HTML.format(n=n), f"m{n}") for n in range(messages)])
    render_cpu = time.process_time()
    for n in range(messages):  # rendering alone, for the breakdown (the dispatcher renders again)
        render_post({"html": HTML.format(n=n), "actions": []}, adapter)
    render_cpu = time.process_time() - render_cpu
    sent = 0
    all_sent = asyncio.Event()
    send = adapter.send

    async def answered_at_once(dest: Any, post: Any) -> Any:
        await asyncio.sleep(0)  # a send still yields to the loop once
        return SentRef(dest.room or rooms[0], f"stub-{sent}", None)

    async def counted(dest: Any, post: Any) -> Any:
        nonlocal sent
        ref = await (answered_at_once if stub else send)(dest, post)
        sent += 1
        if sent == messages:
            all_sent.set()
        return ref

    adapter.send = counted
    dispatcher = Dispatcher(store, {platform: adapter}, OutboxSettings())
    cpu, wall = time.process_time(), time.perf_counter()
    runner = asyncio.create_task(dispatcher.run())
    await all_sent.wait()
    await recorded(store)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    await adapter.stop()
    await store.close()
    return {"cpu": cpu, "wall": wall, "render_cpu": render_cpu}


async def _no_events(event: Any) -> None:
    return None


async def raw_side(platform_name: str, api_url: str, rooms: list[str], users: list[str], messages: int) -> dict:
    from bridge.posts import render_post

    adapter = _adapter(platform_name, api_url)
    per_chat: list[list[Any]] = [[] for _ in rooms]
    for n in range(messages):  # the bridge's rendering, done before the clock starts
        per_chat[n % len(rooms)].extend(render_post({"html": HTML.format(n=n), "actions": []}, adapter))
    if platform_name == "telegram":
        from telegram import Bot, LinkPreviewOptions
        from telegram.constants import ParseMode

        bot = Bot(TELEGRAM_TOKEN, base_url=api_url)
        await bot.initialize()
        no_preview = LinkPreviewOptions(is_disabled=True)

        async def chat(room: str, posts: list[Any]) -> None:
            for post in posts:
                await bot.send_message(
                    chat_id=int(room), text=post.text, parse_mode=ParseMode.HTML, link_preview_options=no_preview
                )
    else:
        import aiohttp
        from slack_sdk.web.async_client import AsyncWebClient

        from adapters.slack import build_blocks, notification_text

        session = aiohttp.ClientSession()  # kept-alive connections, as the bridge's adapter has
        client = AsyncWebClient(token=SLACK_TOKEN, base_url=api_url, session=session)

        async def chat(room: str, posts: list[Any]) -> None:
            for post in posts:
                await client.chat_postMessage(
                    channel=room, text=notification_text(post), blocks=build_blocks(post.text, post.actions),
                    unfurl_links=False, unfurl_media=False, mrkdwn=True,
                )  # fmt: skip

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(chat(room, posts) for room, posts in zip(rooms, per_chat, strict=True)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if platform_name == "telegram":
        await bot.shutdown()
    else:
        await session.close()
    return {"cpu": cpu, "wall": wall}


# --- the conductor -------------------------------------------------------------------------


async def _sandbox(platform_name: str, chats: int) -> tuple[Any, list[str], list[str]]:
    """The platform's sandbox, limits off, with ``chats`` people; returns it, the rooms to
    send to and the people's user ids."""
    if platform_name == "telegram":
        from sandbox.telegram import SandboxTelegram

        tg = SandboxTelegram(token=TELEGRAM_TOKEN, enforce_limits=False)
        users = [str(FIRST_CHAT + i) for i in range(chats)]
        for user in users:
            tg.add_user(int(user), "Bench", started=True)
        await tg.start()
        return tg, users, users
    from sandbox.slack import SandboxSlack

    slack = SandboxSlack(signing_secret=SLACK_SECRET, enforce_limits=False)
    slack.add_team(SLACK_TEAM, SLACK_TOKEN, name="bench")
    users = [slack_user(i) for i in range(chats)]
    for i, user in enumerate(users):
        slack.add_user(SLACK_TEAM, user, f"bench{i}")
    await slack.start()
    rooms = [slack.dm(SLACK_TEAM, user).id for user in users]  # DMs open, as for linked people
    return slack, rooms, users


async def _measure(side: str, tree: Path, platform_name: str, api_url: str, spec: dict[str, Any]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    args = [sys.executable, str(SELF), "--side", side, "--platform", platform_name,
            "--api", api_url, "--spec", json.dumps(spec)]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=tree, env=env, stdout=asyncio.subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{side} in {tree} failed (exit {proc.returncode})")
    return json.loads(out.decode().strip().splitlines()[-1])


async def conduct(messages: int, chats: int, rounds: int, against: Path | None, breakdown: bool = False) -> None:
    sides = [("raw", ROOT), ("bridge", ROOT)] + ([("bridge", against)] if against else [])
    names = ["raw SDK", "bridge"] + (["baseline bridge"] if against else [])
    if breakdown:
        sides.append(("stub", ROOT))
        names.append("send answered")
    print(f"overhead bench: {messages} messages to {chats} chats, pacing off, {rounds} rounds (median)")
    for platform_name in ("telegram", "slack"):
        sandbox, rooms, users = await _sandbox(platform_name, chats)
        spec = {"rooms": rooms, "users": users, "messages": messages}
        results: list[list[dict]] = [[] for _ in sides]
        try:
            for _ in range(rounds):
                for i, (side, tree) in enumerate(sides):
                    results[i].append(await _measure(side, tree, platform_name, sandbox.api_url, spec))
        finally:
            await sandbox.stop()
        cpu = [statistics.median(r["cpu"] for r in res) for res in results]
        wall = [statistics.median(r["wall"] for r in res) for res in results]
        print(f"\n{platform_name}:{'':<10}" + "".join(f"{name:>18}" for name in names))
        print(f"{'CPU ms per message':<20}" + "".join(f"{c * 1000 / messages:>18.2f}" for c in cpu))
        print(f"{'CPU vs raw SDK':<20}" + "".join(f"{c / cpu[0]:>17.2f}x" for c in cpu))
        print(f"{'wall s':<20}" + "".join(f"{w:>18.2f}" for w in wall))
        print(f"{'wall vs raw SDK':<20}" + "".join(f"{w / wall[0]:>17.2f}x" for w in wall))
        if breakdown:
            render = statistics.median(r["render_cpu"] for r in results[1])
            print(f"rendering alone: {render * 1000 / messages:.2f} ms CPU per message (within the bridge's figure)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--chats", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--against", type=Path, help="another checkout whose bridge is the baseline")
    parser.add_argument(
        "--breakdown", action="store_true", help="also the bridge with sends answered at once, and rendering alone"
    )
    parser.add_argument("--side", choices=("raw", "bridge", "stub"), help=argparse.SUPPRESS)
    parser.add_argument("--platform", help=argparse.SUPPRESS)
    parser.add_argument("--api", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side is None:
        asyncio.run(conduct(args.messages, args.chats, args.rounds, args.against, args.breakdown))
        return
    spec = json.loads(args.spec)
    work = (args.platform, args.api, spec["rooms"], spec["users"], spec["messages"])
    if args.side == "raw":
        result = asyncio.run(raw_side(*work))
    else:
        result = asyncio.run(bridge_side(*work, stub=args.side == "stub"))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
