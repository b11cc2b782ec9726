"""The Send Message API on the real bridge process: keys made with the real CLI, the
sandbox LMS as Pluto, the console as a linked person's chat."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from openapi_spec_validator import validate

from sandbox.lms import DemoSeed, SandboxLMS
from tests.e2e.harness import BridgeProcess, bridge_config
from tests.support import cli

pytestmark = pytest.mark.e2e

WITHIN = 30.0
SENDER_TELEGRAM = "424242"  # where the sender's imported link points (Telegram is off here)


class Api:
    """Calls the bridge's API the way another system would."""

    def __init__(self, http: aiohttp.ClientSession, port: int) -> None:
        self.http = http
        self.base = f"http://127.0.0.1:{port}/api/v1"

    async def send(
        self, key: str, body: dict[str, Any], idempotency: str | None = None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        headers = {"Authorization": f"Bearer {key}"}
        if idempotency is not None:
            headers["Idempotency-Key"] = idempotency
        async with self.http.post(self.base + "/messages", json=body, headers=headers) as resp:
            return resp.status, await resp.json(), dict(resp.headers)

    async def job(self, key: str, job_id: str) -> dict[str, Any]:
        async with self.http.get(f"{self.base}/messages/{job_id}", headers={"Authorization": f"Bearer {key}"}) as resp:
            assert resp.status == 200, await resp.text()
            return dict(await resp.json())

    async def settled(self, key: str, job_id: str) -> dict[str, Any]:
        """The job once it is done and no recipient is pending any more (generous bound)."""
        deadline = time.monotonic() + WITHIN
        while True:
            job = await self.job(key, job_id)
            outcomes = [o["status"] for r in job["recipients"] for o in (r.get("chat"), r.get("pluto")) if o]
            if job["status"] == "done" and "pending" not in outcomes:
                return job
            assert time.monotonic() < deadline, f"job never settled: {job}"
            await asyncio.sleep(0.2)


async def create_key(config: Path, name: str, sender: str, *options: str) -> str:
    """``pluto-bridge apikey create``; returns the key it printed once."""
    code, out, err = await cli("apikey", "create", name, "--sender", sender, "--config", str(config), *options)
    assert code == 0, out + err
    found = re.search(r"^(pbk_\S+)$", out, re.M)
    assert found is not None, out
    return found.group(1)


async def import_sender_link(lms: SandboxLMS, sender_id: int, config: Path, tmp: Path) -> None:
    """The operator links the sender account with its own token (``link import``)."""
    rows = tmp / "links.json"
    token = lms.issue_token(sender_id)
    row = {"platform": "telegram", "user_id": SENDER_TELEGRAM, "token": token, "lms_user_id": sender_id}
    rows.write_text(json.dumps([row]))
    code, out, err = await cli("link", "import", str(rows), "--config", str(config))
    assert code == 0, out + err


@contextlib.asynccontextmanager
async def running(
    lms: SandboxLMS, tmp: Path, store_url: str | None = None
) -> AsyncIterator[tuple[BridgeProcess, Path, Api]]:
    """The bridge (console as Sam's chat, ``lms.token`` to look people up, on the store
    at ``store_url`` or SQLite in ``tmp``), ready."""
    store = {"url": store_url} if store_url else {}
    config, port = bridge_config(tmp, lms.url, lms={"token": lms.admin_token}, store=store)
    bridge = await BridgeProcess(config).start()
    try:
        await bridge.ready(port)
        async with aiohttp.ClientSession() as http:
            yield bridge, config, Api(http, port)
    finally:
        await bridge.stop()


def by_recipient(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {json.dumps(r["recipient"], sort_keys=True): r for r in job["recipients"]}


async def test_bad_key_401_and_openapi_document_is_valid(lms: SandboxLMS, seed: DemoSeed, tmp_path: Path) -> None:
    async with running(lms, tmp_path) as (_bridge, config, api):
        key = await create_key(config, "hr-sheet", "mentor")
        body = {"recipients": [{"username": "mentee1"}], "text": "hello"}
        for wrong in ("pbk_not-a-key", key + "x", ""):
            status, answer, headers = await api.send(wrong, body)
            assert status == 401, answer
            assert "API key" in answer["error"] and headers["WWW-Authenticate"].startswith("Bearer")
        code, out, _ = await cli("apikey", "revoke", "hr-sheet", "--config", str(config))
        assert code == 0 and "revoked" in out
        status, _, _ = await api.send(key, body)
        assert status == 401  # a revoked key stops working at once
        code, out, _ = await cli("apikey", "list", "--config", str(config))
        assert "hr-sheet" in out and "revoked" in out and key not in out  # never shown again
        async with api.http.get(api.base + "/openapi.json") as resp:
            assert resp.status == 200
            document = await resp.json()
        validate(document)  # OpenAPI 3.1 meta-schema and references
        assert document["openapi"].startswith("3.1")
        assert set(document["paths"]) == {"/api/v1/messages", "/api/v1/messages/{job}"}


async def test_good_key_202_and_outcome_per_recipient(lms: SandboxLMS, seed: DemoSeed, tmp_path: Path) -> None:
    # The sender is a course member without the teachers' right to message anyone, so
    # Alex's contacts-only setting makes Pluto refuse.
    coordinator = lms.create_user("coordinator", firstname="Cleo", lastname="Coordinator")
    lms.enrol(seed.course_id, coordinator, "student")
    lms.set_preference(seed.mentee2_id, "message_blocknoncontacts", "1")
    async with running(lms, tmp_path) as (bridge, config, api):
        await import_sender_link(lms, coordinator, config, tmp_path)
        await bridge.link("mentee1")  # Sam's chat is the console; Alex has no link
        key = await create_key(config, "hr-sheet", "coordinator", "--scope", "chat", "--scope", "pluto")
        mark = len(bridge.out)
        message = {
            "text": "**Reminder**: fill in the <sheet> by Friday",
            "format": "markdown",
            "buttons": [{"label": "Open the sheet", "url": "https://sheets.example/abc"}],
        }
        everyone = [{"username": "mentee1"}, {"id": seed.mentee2_id}, {"email": "nobody@example.invalid"}]
        status, answer, headers = await api.send(key, {**message, "recipients": everyone, "deliver": "both"})
        assert status == 202, answer
        assert headers["Location"] == answer["status_url"] == f"/api/v1/messages/{answer['job']}"
        job = await api.settled(key, answer["job"])
        outcomes = by_recipient(job)
        sam = outcomes['{"username": "mentee1"}']
        alex = outcomes[json.dumps({"id": seed.mentee2_id})]
        nobody = outcomes['{"email": "nobody@example.invalid"}']
        assert sam["user_id"] == seed.mentee1_id and sam["name"] == "Sam Mentee"
        assert sam["pluto"]["status"] == "delivered"
        assert sam["chat"]["status"] == "via_pluto"  # the bridge brings the Pluto message itself
        assert alex["pluto"]["status"] == "refused" and "Alex Mentee" in alex["pluto"]["reason"]
        assert alex["chat"] == {"status": "not_linked", "reason": "has not linked a chat account"}
        assert nobody["chat"]["status"] == "unknown" and nobody["pluto"]["status"] == "unknown"
        # In Pluto, from Cleo, with her own token; Alex's contacts-only setting held.
        conversation = lms.conversation_between(coordinator, seed.mentee1_id)
        assert conversation is not None
        texts = texts_in(lms, conversation, coordinator)
        # Plain text (textformat 2): Pluto escapes it itself; the button follows as a line.
        assert texts == ["Reminder: fill in the <sheet> by Friday\n\nOpen the sheet: https://sheets.example/abc"]
        assert lms.conversation_between(coordinator, seed.mentee2_id) is None
        # Sam reads that Pluto message in chat, once.
        await bridge.expect(r"Cleo Coordinator\n\nReminder: fill in the <sheet> by Friday", after=mark)

        # Chat only: a notice with the sender's name, Markdown rendered, the text kept as text.
        mark = len(bridge.out)
        status, answer, _ = await api.send(key, {**message, "recipients": everyone[:1], "deliver": "chat"})
        assert status == 202
        [sam] = (await api.settled(key, answer["job"]))["recipients"]
        assert sam["chat"]["status"] == "delivered" and "pluto" not in sam
        await bridge.expect(
            r"Cleo Coordinator · via hr-sheet\n\nReminder: fill in the <sheet> by Friday\nOpen the sheet: "
            r"https://sheets\.example/abc",
            after=mark,
        )
        assert len(texts_in(lms, conversation, coordinator)) == 1  # nothing more in Pluto
        assert bridge.count("Reminder: fill in the <sheet> by Friday") == 2


def texts_in(lms: SandboxLMS, conversation: int, author: int) -> list[str]:
    return [m["text"] for m in lms.messages_in(conversation) if m["useridfrom"] == author]


@pytest.mark.postgres
async def test_same_idempotency_key_twice_sends_once(
    lms: SandboxLMS, seed: DemoSeed, tmp_path: Path, bridge_store_url: str
) -> None:
    async with running(lms, tmp_path, bridge_store_url) as (bridge, config, api):
        await import_sender_link(lms, seed.mentor_id, config, tmp_path)
        await bridge.link("mentee1")
        key = await create_key(config, "hr-sheet", "mentor", "--scope", "chat", "--scope", "pluto")
        body = {"recipients": [{"username": "mentee1"}], "text": "Row 17 added: induction on Monday", "deliver": "both"}
        first_status, first, first_headers = await api.send(key, body, idempotency="row-17")
        second_status, second, second_headers = await api.send(key, body, idempotency="row-17")
        assert first_status == second_status == 202
        assert second["job"] == first["job"]
        assert "Idempotent-Replayed" not in first_headers and second_headers["Idempotent-Replayed"] == "true"
        conflict, answer, _ = await api.send(key, {**body, "text": "something else"}, idempotency="row-17")
        assert conflict == 409 and "different request" in answer["error"]
        job = await api.settled(key, first["job"])
        [outcome] = job["recipients"]
        assert outcome["pluto"]["status"] == "delivered" and outcome["chat"]["status"] == "via_pluto"
        conversation = lms.conversation_between(seed.mentor_id, seed.mentee1_id)
        assert conversation is not None
        assert texts_in(lms, conversation, seed.mentor_id) == ["Row 17 added: induction on Monday"]
        await bridge.expect(r"Maya Mentor\n\nRow 17 added: induction on Monday")
        assert bridge.count("Row 17 added: induction on Monday") == 1


async def test_chat_to_a_person_without_a_link_is_reported_not_linked(
    lms: SandboxLMS, seed: DemoSeed, tmp_path: Path
) -> None:
    async with running(lms, tmp_path) as (_bridge, config, api):
        key = await create_key(config, "hr-sheet", "mentor")  # chat scope only
        status, answer, _ = await api.send(
            key, {"recipients": [{"username": "mentee2"}], "text": "hi", "deliver": "chat"}
        )
        assert status == 202
        job = await api.settled(key, answer["job"])
        [alex] = job["recipients"]
        assert alex["user_id"] == seed.mentee2_id
        assert alex["chat"]["status"] == "not_linked"
        refused, problem, _ = await api.send(
            key, {"recipients": [{"id": seed.mentee2_id}], "text": "x", "deliver": "pluto"}
        )
        assert refused == 403 and "pluto" in problem["error"]  # the key's scope is chat only


async def test_rate_limit_429_with_retry_after(lms: SandboxLMS, seed: DemoSeed, tmp_path: Path) -> None:
    async with running(lms, tmp_path) as (_bridge, config, api):
        key = await create_key(config, "burst", "mentor", "--rate", "2")
        other = await create_key(config, "other", "mentor", "--rate", "2")
        body = {"recipients": [{"username": "mentee2"}], "text": "rate test"}
        statuses = [(await api.send(key, body))[0] for _ in range(2)]
        assert statuses == [202, 202]
        status, answer, headers = await api.send(key, body)
        assert status == 429, answer
        assert 1 <= int(headers["Retry-After"]) <= 60
        status, answer, _ = await api.send(other, body)
        assert status == 202  # limits are per key
        for _ in range(5):  # polling a job's status does not count against sending
            assert (await api.job(other, answer["job"]))["job"] == answer["job"]
        status, _, _ = await api.send(other, body)
        assert status == 202


async def test_muted_type_and_quiet_hours_with_urgent_passing(lms: SandboxLMS, seed: DemoSeed, tmp_path: Path) -> None:
    async with running(lms, tmp_path) as (bridge, config, api):
        await bridge.link("mentee1")
        key = await create_key(config, "hr-sheet", "mentor")
        sam = [{"username": "mentee1"}]
        mark = len(bridge.out)
        await bridge.type("/prefs off api/hr-sheet")
        await bridge.expect(r"switched off: api_hr-sheet", after=mark)
        _, muted, _ = await api.send(key, {"recipients": sam, "text": "muted notice"})
        [outcome] = (await api.settled(key, muted["job"]))["recipients"]
        assert outcome["chat"]["status"] == "muted" and "api_hr-sheet" in outcome["chat"]["reason"]

        now = datetime.datetime.now(datetime.UTC)
        start, end = (now - datetime.timedelta(hours=1)), (now + datetime.timedelta(hours=1))
        mark = len(bridge.out)
        await bridge.type("/prefs on api/hr-sheet")
        await bridge.type(f"/prefs quiet {start:%H:%M}-{end:%H:%M} UTC")
        await bridge.expect(r"quiet hours: \d\d:\d\d-\d\d:\d\d \(UTC\)", after=mark)
        _, quiet, _ = await api.send(key, {"recipients": sam, "text": "quiet-hours notice"})
        _, urgent, _ = await api.send(key, {"recipients": sam, "text": "urgent notice", "urgent": True})
        [outcome] = (await api.settled(key, urgent["job"]))["recipients"]
        assert outcome["chat"]["status"] == "delivered"  # urgent passes quiet hours
        await bridge.expect(r"urgent notice")
        [held] = (await api.job(key, quiet["job"]))["recipients"]
        assert held["chat"] == {"status": "pending", "reason": "quiet hours"}
        assert "quiet-hours notice" not in bridge.text and "muted notice" not in bridge.text

        await bridge.type("/prefs quiet off")
        [outcome] = (await api.settled(key, quiet["job"]))["recipients"]
        assert outcome["chat"]["status"] == "delivered"
        await bridge.expect(r"quiet-hours notice")
        assert "muted notice" not in bridge.text


@pytest.mark.postgres
async def test_an_accepted_job_survives_a_restart(
    lms: SandboxLMS, seed: DemoSeed, tmp_path: Path, bridge_store_url: str
) -> None:
    config, port = bridge_config(tmp_path, lms.url, lms={"token": lms.admin_token}, store={"url": bridge_store_url})
    body = {"recipients": [{"email": "mentee1@example.com"}], "text": "sent after the restart"}
    first = await BridgeProcess(config).start()
    try:
        await first.ready(port)
        await first.link("mentee1")
        key = await create_key(config, "hr-sheet", "mentor")
        lms.set_down(True)  # the look-up by email cannot happen: the job waits, accepted
        async with aiohttp.ClientSession() as http:
            status, answer, _ = await Api(http, port).send(key, body)
            assert status == 202
        await first.kill()
    finally:
        await first.stop()
    assert "sent after the restart" not in first.text
    lms.set_down(False)
    second = await BridgeProcess(config).start()
    try:
        await second.ready(port)
        async with aiohttp.ClientSession() as http:
            job = await Api(http, port).settled(key, answer["job"])
        [sam] = job["recipients"]
        assert sam["user_id"] == seed.mentee1_id and sam["chat"]["status"] == "delivered"
        await second.expect(r"Maya Mentor · via hr-sheet\n\nsent after the restart")
    finally:
        await second.stop()


async def test_apikey_create_names_what_is_wrong(lms: SandboxLMS, seed: DemoSeed, tmp_path: Path) -> None:
    config, _port = bridge_config(tmp_path, lms.url, lms={"token": lms.admin_token})
    code, out, _ = await cli("apikey", "create", "x", "--sender", "nobody", "--config", str(config))
    assert code == 2 and "no Pluto account named 'nobody'" in out
    code, out, _ = await cli("apikey", "create", "x", "--sender", "mentor", "--scope", "sms", "--config", str(config))
    assert code == 2 and "--scope: chat or pluto (got sms)" in out
    await create_key(config, "x", "mentor", "--scope", "pluto")
    code, out, _ = await cli("apikey", "create", "x", "--sender", "mentor", "--config", str(config))
    assert code == 2 and "an API key named 'x' exists already" in out
    code, out, _ = await cli("apikey", "list", "--config", str(config))
    assert "x  pbk_" in out and "sender mentor  scopes pluto  60/min" in out
    code, out, _ = await cli("apikey", "revoke", "y", "--config", str(config))
    assert code == 1 and "no active API key named 'y'" in out
