"""The bridge's sign-in page under attack. Failed sign-ins are limited per Pluto username,
per chat identity and per client address; past a limit the page answers 429 and says when
to try again, even for the right password, and the bridge logs it (issue 13, item 3).
Malformed or oversized forms are the client's mistake: 4xx, never a 500 (item 6)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from sandbox.lms import DemoSeed, SandboxLMS
from tests.e2e.harness import BridgeProcess, bridge_config, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
async def bridge(
    lms: SandboxLMS, seed: DemoSeed, tmp_path: Path, bridge_store_url: str
) -> AsyncIterator[tuple[BridgeProcess, int]]:
    limits = {"max_failures_per_identity": 3, "max_failures_per_address": 8}
    # The test client is the bridge's "reverse proxy": its X-Forwarded-For names the client.
    config, port = bridge_config(
        tmp_path, lms.url, link=limits, web={"trusted_proxies": ["127.0.0.1"]}, store={"url": bridge_store_url}
    )
    process = await BridgeProcess(config).start()
    try:
        await process.expect(r"send /link")
        yield process, port
    finally:
        await process.stop()


async def _post(
    http: aiohttp.ClientSession, url: str, form: dict[str, str], client: str = "198.51.100.1"
) -> tuple[int, str, str | None]:
    async with http.post(url, data=form, headers={"X-Forwarded-For": f"10.9.9.9, {client}"}) as resp:
        return resp.status, await resp.text(), resp.headers.get("Retry-After")


async def test_guessing_one_username_stops_after_five_failures(bridge: tuple[BridgeProcess, int]) -> None:
    process, port = bridge
    url = f"http://127.0.0.1:{port}/link"
    async with aiohttp.ClientSession() as http:
        for _ in range(5):
            status, page, _ = await _post(http, url, sign_in("mentee1", "wrong"))
            assert status == 400 and "did not accept" in page
        status, page, retry_after = await _post(http, url, sign_in("mentee1"))  # the right password, too late
        assert status == 429, page
        assert retry_after is not None and 1 <= int(retry_after) <= 900
        assert "Too many failed sign-ins" in page and "try again in 15 minutes" in page
        status, page, _ = await _post(http, url, sign_in("mentee2"))  # another person is not held up
        assert status == 200, page
    assert any("sign-in refused: username 'mentee1' reached 5 failed sign-ins" in line for line in process.err)


async def test_one_address_guessing_many_usernames_is_stopped(bridge: tuple[BridgeProcess, int]) -> None:
    _, port = bridge
    url = f"http://127.0.0.1:{port}/link"
    async with aiohttp.ClientSession() as http:
        for name in ("mentor", "mentee1", "mentee2", "admin") * 2:  # 8 failures, none 5 for one name
            status, _, _ = await _post(http, url, sign_in(name, "wrong"))
            assert status == 400
        status, page, _ = await _post(http, url, sign_in("mentee2"))
        assert status == 429, page
        status, page, _ = await _post(http, url, sign_in("mentee2"), client="198.51.100.2")  # another client
        assert status == 200, page


@pytest.mark.postgres
async def test_one_chat_identity_is_limited_across_fresh_codes(bridge: tuple[BridgeProcess, int]) -> None:
    process, _ = bridge
    async with aiohttp.ClientSession() as http:
        for attempt in range(4):
            mark = len(process.out)
            await process.type("/link")
            found = await process.expect(r"(http://127\.0\.0\.1:\d+/link/[A-Za-z0-9_-]+)", after=mark)
            names = ("mentor", "mentee2", "admin")
            form = sign_in(names[attempt], "wrong") if attempt < 3 else sign_in("mentee1")
            status, page, _ = await _post(http, found.group(1), form)
            assert status == (400 if attempt < 3 else 429), page
    assert re.search(r"sign-in refused: identity 'console:sam' reached 3", "\n".join(process.err))


async def _chunked(size: int) -> AsyncIterator[bytes]:
    """A form body of ``size`` bytes sent without Content-Length (chunked)."""
    yield b"username=mentee1&password="
    for _ in range(size // 1024):
        yield b"x" * 1024


BAD_FORMS = {
    "not UTF-8": (b"username=\xff\xfe&password=x", "application/x-www-form-urlencoded", 400),
    "percent-escaped non-UTF-8": (b"username=%FF%FE&password=x", "application/x-www-form-urlencoded", 400),
    "multipart whose boundary lies": (
        b"--other\r\nContent-Disposition: form-data; name=username\r\n\r\nmentee1\r\n--other--",
        "multipart/form-data; boundary=declared",
        400,
    ),
    "JSON": (b'{"username": "mentee1"}', "application/json", 400),
}


@pytest.mark.parametrize("case", sorted(BAD_FORMS))
async def test_a_malformed_form_is_the_clients_mistake(bridge: tuple[BridgeProcess, int], case: str) -> None:
    _, port = bridge
    body, content_type, expected = BAD_FORMS[case]
    async with aiohttp.ClientSession() as http:
        for url in (f"http://127.0.0.1:{port}/link", f"http://127.0.0.1:{port}/link/some-code-0123456789"):
            async with http.post(url, data=body, headers={"Content-Type": content_type}) as resp:
                assert resp.status == expected, (url, resp.status, await resp.text())


async def test_the_form_limit_holds_for_chunked_bodies(bridge: tuple[BridgeProcess, int]) -> None:
    _, port = bridge
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"http://127.0.0.1:{port}/link", data=_chunked(20 * 1024), headers=headers) as resp:
            assert resp.status == 413
        async with http.post(f"http://127.0.0.1:{port}/link", data=_chunked(4 * 1024), headers=headers) as resp:
            assert resp.status == 400  # within the limit: an ordinary failed sign-in
