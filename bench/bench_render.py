"""Render and split LMS HTML messages for every markup; print ms/op beside baselines.

Two baselines. The first is what a bridge without a renderer would do: ``html.escape`` the
whole text and slice it every ``limit`` characters (no formatting, no boundaries, chunks may
cut an entity or a character sequence in half). The second, with ``--against DIR``, is the
same bridge code path in another checkout (``/work/main``, say: today's renderer), run in a
subprocess on the same messages: sanitise plus render with each adapter's declared limit
(and measure, where the checkout has one), for a typical 1 KB message (which must stay
under 2 ms) and a 50 KB one.

Run: ``.venv/bin/python bench/bench_render.py [N] [--against DIR]``.
"""

from __future__ import annotations

import argparse
import functools
import html
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bridge.model import Markup
from bridge.render import render, sanitize_lms_html

LIMITS = {
    Markup.PLAIN: 4096,
    Markup.TELEGRAM_HTML: 4096,
    Markup.SLACK_MRKDWN: 4000,
    Markup.DISCORD_MARKDOWN: 2000,
    Markup.TEAMS_HTML: 20000,
}
WORDS = (
    "the course week grade assignment due &amp; quiz &lt;b&gt; forum reply @everyone **note** <@U1>"
).split()


def lms_message(size: int, seed: int = 1) -> str:
    """An LMS-looking HTML message of about ``size`` characters."""
    rng = random.Random(seed)

    def words(n: int) -> str:
        out = []
        for i in range(n):
            w = rng.choice(WORDS)
            out.append(w + ("." if i % 11 == 10 else ""))
        return " ".join(out)

    parts: list[str] = []
    while sum(map(len, parts)) < size:
        kind = rng.random()
        if kind < 0.55:
            parts.append(
                f'<p dir="ltr" style="text-align:left;">{words(40)} <strong>{words(5)}</strong> '
                f'<a href="https://pluto.example/mod/forum/view.php?id={rng.randint(1, 999)}&amp;x=1" '
                f'target="_blank">{words(3)}</a> {words(20)}<br>{words(15)}</p>'
            )
        elif kind < 0.7:
            items = "".join(f"<li>{words(12)}</li>" for _ in range(5))
            parts.append(f"<ul>{items}</ul>")
        elif kind < 0.8:
            rows = "".join(f"<tr><td>{words(2)}</td><td>{rng.randint(0, 100)}</td></tr>" for _ in range(6))
            parts.append(f"<h4>{words(3)}</h4><table><tbody>{rows}</tbody></table>")
        elif kind < 0.9:
            parts.append(f"<blockquote><p>{words(30)}</p></blockquote>")
        else:
            parts.append("<pre>" + "\n".join(words(8) for _ in range(6)) + "</pre><script>x()</script>")
    return "".join(parts)


def per_op_ms(fn: Callable[[], object], n: int) -> float:
    fn()  # warm up
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) * 1000 / n


def baseline(text: str, limit: int) -> list[str]:
    escaped = html.escape(text)
    return [escaped[i : i + limit] for i in range(0, len(escaped), limit)]


def adapter_path(markup: Markup, message: str) -> Callable[[], object]:
    """Sanitise and render ``message`` as the outbox does for the adapter of ``markup``."""
    from adapters.console import ConsoleAdapter
    from adapters.discord import DiscordAdapter
    from adapters.slack import SlackAdapter
    from adapters.teams import TeamsAdapter
    from adapters.telegram import TelegramAdapter

    adapters: dict[Markup, Any] = {
        Markup.PLAIN: ConsoleAdapter,
        Markup.TELEGRAM_HTML: TelegramAdapter,
        Markup.SLACK_MRKDWN: SlackAdapter,
        Markup.DISCORD_MARKDOWN: DiscordAdapter,
        Markup.TEAMS_HTML: TeamsAdapter,
    }
    caps = adapters[markup].capabilities
    measure = getattr(caps, "measure", None)  # a checkout from before measures had none
    if measure is None:
        return lambda: render(sanitize_lms_html(message), markup, caps.max_text)
    return lambda: render(sanitize_lms_html(message), markup, caps.max_text, measure)


def adapter_figures(n: int) -> dict[str, float]:
    """ms/op of sanitise plus render, per markup and message size."""
    figures = {}
    for size in (1_000, 50_000):
        message = lms_message(size)
        runs = n * 10 if size < 10_000 else n
        for markup in Markup:
            figures[f"{markup.value} {size}"] = per_op_ms(adapter_path(markup, message), runs)
    return figures


def against(checkout: str, n: int) -> dict[str, float]:
    """The same figures measured with the bridge code of another checkout."""
    env = {**os.environ, "PYTHONPATH": os.path.abspath(checkout)}
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), str(n), "--json"],
        env=env,
        cwd=checkout,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    figures: dict[str, float] = json.loads(out)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=20, help="operations per 50 KB row (x10 for 1 KB)")
    parser.add_argument("--against", metavar="DIR", help="another checkout to compare with (today's code)")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    n = args.n
    if args.json:
        print(json.dumps(adapter_figures(n)))
        return
    now = adapter_figures(n)
    then = against(args.against, n) if args.against else {}
    print(f"sanitise + render with each adapter's limit and measure, ms/op ({n} ops per 50 KB row)")
    head = f"{'markup':<18}{'1 KB':>9}{'today':>9}{'<2 ms':>7}{'50 KB':>10}{'today':>10}"
    print(head)
    for markup in Markup:
        small, large = now[f"{markup.value} 1000"], now[f"{markup.value} 50000"]
        was_small = then.get(f"{markup.value} 1000")
        was_large = then.get(f"{markup.value} 50000")
        print(
            f"{markup.value:<18}{small:>9.3f}{_or_dash(was_small, 9)}{'yes' if small < 2 else 'NO':>7}"
            f"{large:>10.2f}{_or_dash(was_large, 10)}"
        )
    print()
    message = lms_message(50_000)
    print(f"LMS message: {len(message):,} chars, {n} ops per row")
    sanitize_ms = per_op_ms(lambda: sanitize_lms_html(message), n)
    safe = sanitize_lms_html(message)
    print(f"sanitize_lms_html: {sanitize_ms:8.2f} ms/op  (safe HTML: {len(safe):,} chars)\n")
    head = f"{'markup':<18}{'limit':>7}{'chunks':>8}{'render ms/op':>14}{'+sanitize':>11}"
    print(head + f"{'baseline ms/op':>16}{'chunks':>8}{'ratio':>8}")
    for markup, limit in LIMITS.items():
        chunks = render(safe, markup, limit)
        render_ms = per_op_ms(functools.partial(render, safe, markup, limit), n)
        base_ms = per_op_ms(functools.partial(baseline, message, limit), n)
        base_chunks = len(baseline(message, limit))
        total = render_ms + sanitize_ms
        print(
            f"{markup.value:<18}{limit:>7}{len(chunks):>8}{render_ms:>14.2f}{total:>11.2f}"
            f"{base_ms:>16.3f}{base_chunks:>8}{total / base_ms:>7.0f}x"
        )


def _or_dash(value: float | None, width: int) -> str:
    return f"{value:>{width}.3f}" if value is not None else f"{'-':>{width}}"


if __name__ == "__main__":
    main()
