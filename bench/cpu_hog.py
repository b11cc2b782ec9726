"""Run a command while busy-loop processes keep the CPU cores busy, then stop them.

Flaky-under-load tests show up here: the hogs take the cores as a busy CI machine would.
Run: ``.venv/bin/python bench/cpu_hog.py [--hogs N] [--runs R] -- COMMAND ...``, e.g.
``.venv/bin/python bench/cpu_hog.py --runs 3 -- python -m pytest -n 0 tests/e2e/test_crash_recovery.py``.
Prints each run's exit code and wall time, and exits with the first failing run's code.
The hogs are stopped however the command ends (Ctrl-C included).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

HOG = "while True: pass"


def start_hogs(count: int) -> list[subprocess.Popen[bytes]]:
    """``count`` processes that each keep one core busy."""
    return [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(count)]


def stop_hogs(hogs: list[subprocess.Popen[bytes]]) -> None:
    """Stop the hogs this script started (and only those), waiting for each."""
    for hog in hogs:
        hog.terminate()
    for hog in hogs:
        try:
            hog.wait(5)
        except subprocess.TimeoutExpired:
            hog.kill()
            hog.wait()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hogs", type=int, default=2, help="busy processes (default 2, one per core here)")
    parser.add_argument("--runs", type=int, default=1, help="run the command this many times")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    print(f"{args.hogs} CPU hog(s) on {os.cpu_count()} core(s); command: {' '.join(command)}", flush=True)
    hogs = start_hogs(args.hogs)
    failed = 0
    try:
        for run in range(1, args.runs + 1):
            started = time.monotonic()
            code = subprocess.call(command)
            print(f"run {run}/{args.runs}: exit {code} in {time.monotonic() - started:.1f}s", flush=True)
            failed = failed or code
    finally:
        stop_hogs(hogs)
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
