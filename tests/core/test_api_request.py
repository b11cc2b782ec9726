"""The Send Message API's request checks and per-key rate limit (pure functions)."""

from __future__ import annotations

import pytest

from bridge.api.ratelimit import KeyLimits
from bridge.api.request import RequestError, parse_request


def problems(body: object) -> list[str]:
    with pytest.raises(RequestError) as caught:
        parse_request(body)
    return caught.value.problems


def test_every_bad_field_is_named_at_once() -> None:
    found = problems(
        {
            "recipients": [{"id": 0}, {"username": "a", "email": "b"}, "sam"],
            "text": "",
            "deliver": "sms",
            "format": "html",
            "urgent": "yes",
            "buttons": [{"label": "Open", "url": "javascript:alert(1)"}],
            "colour": "red",
        }
    )
    assert found == [
        "unknown field(s): colour",
        "recipients[0].id: must be a positive integer",
        "recipients[1]: give exactly one of id, username, email",
        "recipients[2]: give exactly one of id, username, email",
        "text: a non-empty string is required",
        "format: one of plain, markdown (got 'html')",
        "deliver: one of chat, pluto, both (got 'sms')",
        "urgent: true or false",
        "buttons[0].url: an http:// or https:// address of at most 2048 characters",
    ]
    assert problems([1, 2]) == ["the body must be a JSON object"]


def test_markdown_is_rendered_and_written_html_stays_text() -> None:
    request = parse_request(
        {"recipients": [{"email": "a@example.org"}], "text": "**Due** <script>x</script>", "format": "markdown"}
    )
    assert request.html == "<p><b>Due</b> &lt;script&gt;x&lt;/script&gt;</p>"
    plain = parse_request({"recipients": [{"id": 3}], "text": "**not bold** & <i>"})
    assert plain.html == "<p>**not bold** &amp; &lt;i&gt;</p>"


def test_pluto_byte_limit_is_checked_before_accepting() -> None:
    body = {"recipients": [{"id": 3}], "text": "é" * 2100, "deliver": "pluto"}
    [problem] = problems(body)
    assert problem.startswith("text: Pluto accepts at most 4096 bytes")
    assert parse_request({**body, "deliver": "chat"}).deliver == "chat"  # chat splits long text itself


def test_rate_limit_says_how_long_to_wait_per_key() -> None:
    now = [0.0]
    limits = KeyLimits(clock=lambda: now[0])
    assert [limits.take(1, 2) for _ in range(2)] == [0, 0]
    assert limits.take(1, 2) == 30  # 2 a minute: the next token comes in 30 s
    assert limits.take(2, 2) == 0  # another key has its own bucket
    now[0] = 29.0
    assert limits.take(1, 2) == 1
    now[0] = 30.5
    assert limits.take(1, 2) == 0
