"""Benchmark: what one ``pluto-bridge run`` costs until it is ready.

Every start imports the SDKs, SQLAlchemy and pydantic and brings the store to its schema:
an operator restarting waits for it, and the test suite starts hundreds of bridges on 2
cores. For the console and for Telegram (its SDK is the heaviest import), on a new SQLite
store (the first start: every migration runs) and on one already at this version's schema
(every start after), this starts the real process against the sandbox LMS and Bot API,
waits for its readiness endpoint, stops it, and reads the process's CPU (user + system,
from the kernel's account of the reaped child) and the wall time to ready. ``--against
TREE`` starts another checkout's bridge the same way, round after round with this one, as
the baseline column.

Run: .venv/bin/python bench/bench_start.py [--rounds R] [--against /tmp/base-tree]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.lms import SandboxLMS  # noqa: E402
from sandbox.telegram import SandboxTelegram  # noqa: E402
from tests.e2e.harness import BridgeProcess, bridge_config  # noqa: E402


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def one_start(tree: Path, platform: str, store: str, lms: SandboxLMS, tg: SandboxTelegram) -> tuple[float, float]:
    """Start ``tree``'s bridge with ``platform`` enabled on a ``store`` ("new" or
    "current"); (CPU seconds, seconds to ready)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-start-"))
    extra: dict[str, dict[str, object]] = {}
    if store == "new":  # the harness copies a current store in unless given a URL
        extra["store"] = {"url": f"sqlite+aiosqlite:///{tmp / 'new.sqlite3'}"}
    if platform == "telegram":
        extra["console"] = {"enabled": False}
        extra["telegram"] = {"enabled": True, "token": tg.token, "base_url": tg.api_url, "base_file_url": tg.file_url}
    config, port = bridge_config(tmp, lms.url, **extra)
    before = _children_cpu()
    started = time.perf_counter()
    # The tree's own bridge: its folder first on the path, as when run from that checkout.
    argv = [
        "-c",
        f"import sys; sys.path.insert(0, {str(tree)!r}); sys.argv[0] = 'pluto-bridge'; "
        f"import runpy; runpy.run_module('bridge', run_name='__main__')",
        "run",
        "--config",
        str(config),
    ]
    process = await BridgeProcess(config, argv).start()
    try:
        await process.ready(port)
        ready = time.perf_counter() - started
    finally:
        await process.stop()
    return _children_cpu() - before, ready


async def conduct(rounds: int, against: Path | None) -> None:
    lms = SandboxLMS()
    lms.seed_demo()
    await lms.start()
    tg = SandboxTelegram()
    await tg.start()
    trees = [("this tree", ROOT)] + ([("baseline", against)] if against else [])
    cases = [(platform, store) for platform in ("console", "telegram") for store in ("new", "current")]
    figures: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    try:
        for _ in range(rounds):
            for platform, store in cases:
                for name, tree in trees:
                    run = await one_start(tree, platform, store, lms, tg)
                    figures.setdefault((platform, store, name), []).append(run)
    finally:
        await tg.stop()
        await lms.stop()
    print(f"bridge start to ready on SQLite, median of {rounds} ({os.cpu_count()} cores)")
    header = "".join(f"{name + ' cpu':>18}{name + ' ready':>18}" for name, _ in trees)
    print(f"{'platform, store':<20}{header}")
    for platform, store in cases:
        cells = ""
        for name, _ in trees:
            runs = figures[(platform, store, name)]
            cells += f"{statistics.median(c for c, _ in runs):>17.2f}s{statistics.median(r for _, r in runs):>17.2f}s"
        print(f"{platform + ', ' + store:<20}{cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--against", type=Path, help="another checkout whose bridge is the baseline")
    args = parser.parse_args()
    asyncio.run(conduct(args.rounds, args.against))


if __name__ == "__main__":
    main()
