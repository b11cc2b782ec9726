"""``python -m sandbox.lms``: run the sandbox LMS standalone until Ctrl-C (or SIGTERM)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from sandbox.control import controlled

from .server import MODES, SandboxLMS


async def _serve(args: argparse.Namespace) -> None:
    lms = SandboxLMS(mode=args.mode)
    seed = lms.seed_demo() if args.seed == "demo" else None
    lms.set_latency(args.latency)
    url = await lms.start(args.host, args.port)
    print(f"Sandbox Pluto LMS ({args.mode}) listening on {url}", flush=True)
    print(f"  admin / Passw0rd!  (admin token {lms.admin_token})", flush=True)
    if seed is not None:
        for username, uid in seed.users.items():
            print(f"  {username} / {seed.passwords[username]}  (user id {uid})", flush=True)
        group = seed.group_conversation_id or "none (no group messaging in this mode)"
        print(f"  course {seed.course_shortname} id {seed.course_id}; group conversation {group}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # platforms without signal handlers
            loop.add_signal_handler(sig, stop.set)
    try:
        async with controlled(lms, args.control_port):
            await stop.wait()
    finally:
        await lms.stop()


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.lms", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8088)
    parser.add_argument("--seed", choices=["demo"], default=None)
    parser.add_argument("--mode", choices=sorted(MODES), default="modern")
    parser.add_argument("--control-port", type=int, default=0, help="serve sandbox.control here (tests)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds every answer is delayed (a remote site)")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
