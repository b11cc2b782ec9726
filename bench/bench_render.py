"""Render and split a 50 KB LMS HTML message for every markup; print ms/op beside a baseline.

The baseline is what a bridge without a renderer would do: ``html.escape`` the whole text
and slice it every ``limit`` characters (no formatting, no boundaries, chunks may cut an
entity or a character sequence in half). Run: ``.venv/bin/python bench/bench_render.py [N]``.
"""

from __future__ import annotations

import functools
import html
import random
import sys
import time
from collections.abc import Callable

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


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
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


if __name__ == "__main__":
    main()
