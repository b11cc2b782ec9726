"""The polling loop against the sandbox LMS: what a site's configuration does to it."""

from __future__ import annotations

import logging

import pytest

from bridge.app import build_pipeline
from bridge.config import load_settings
from bridge.lms.api import MODERN_FUNCTIONS
from bridge.lms.client import LmsClient
from bridge.model import ChatIdentity, Platform
from bridge.store.crypto import new_key
from bridge.store.store import Store
from sandbox.lms import DemoSeed, SandboxLMS


async def test_a_function_missing_from_the_service_is_not_a_dead_sign_in(
    lms: SandboxLMS, seed: DemoSeed, store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The site's service lacks one function the poll needs: the person's token is fine.
    functions = set(MODERN_FUNCTIONS) - {"core_message_get_conversation_messages"}
    token = lms.issue_token(seed.mentee1_id, service="trimmed", functions=functions)
    settings = load_settings(None, lms={"url": lms.url, "retries": 0}, store={"token_key": new_key()})
    store = await Store.open(store_url, settings.store.token_key.get_secret_value())
    try:
        link = await store.save_link(
            ChatIdentity(Platform.TELEGRAM, "", "111"),
            lms_user_id=seed.mentee1_id,
            lms_username="mentee1",
            lms_fullname="Sam Mentee",
            token=token,
            room="111",
            address=None,
        )
        async with LmsClient(lms.url, retries=0) as client:
            pipeline = build_pipeline(settings, store, client)
            await pipeline.poll_once()  # the baseline
            lms.post_message(seed.mentor_id, seed.mentee1_id, "hi")  # read with the missing function
            with caplog.at_level(logging.WARNING):
                for _ in range(5):
                    await pipeline.poll_once()
        after = await store.link_by_id(link.id)
    finally:
        await store.close()
    assert after is not None and after.status == "active"  # nobody is told to sign in again
    missing = "core_message_get_conversation_messages"
    assert sum(c.function == missing for c in lms.calls) >= 3  # the poll met the missing function again and again
    said = [r.getMessage() for r in caplog.records if missing in r.getMessage()]
    assert len(said) == 1 and "does not offer" in said[0]  # once, not every cycle


async def test_one_person_s_unexpected_failure_stalls_no_one_else(
    lms: SandboxLMS, seed: DemoSeed, store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Issue 14.1: an exception that is not an LMS error ended the polling loop for everyone.
    settings = load_settings(None, lms={"url": lms.url, "retries": 0}, store={"token_key": new_key()})
    store = await Store.open(store_url, settings.store.token_key.get_secret_value())
    try:
        for chat_id, (userid, username) in enumerate(((seed.mentee1_id, "mentee1"), (seed.mentee2_id, "mentee2"))):
            await store.save_link(
                ChatIdentity(Platform.TELEGRAM, "", str(chat_id)),
                lms_user_id=userid,
                lms_username=username,
                lms_fullname=username,
                token=lms.issue_token(userid),
                room=str(chat_id),
                address=None,
            )
        async with LmsClient(lms.url, retries=0) as client:
            pipeline = build_pipeline(settings, store, client)
            await pipeline.poll_once()  # baselines
            broken = lms.post_message(seed.mentor_id, seed.mentee1_id, "to Sam")
            lms.post_message(seed.mentor_id, seed.mentee2_id, "to Alex")
            # Data no LMS should send, for one person only: their poll fails, not the loop.
            next(m for m in lms.state.messages.values() if m.id == broken["msgid"]).useridfrom = "x"  # type: ignore[assignment]
            with caplog.at_level(logging.ERROR):
                queued = [await pipeline.poll_once() for _ in range(3)]
            assert pipeline.degraded() is not None and str(seed.mentee1_id) in (pipeline.degraded() or "")
            metric = "pluto_bridge_poll_failures_total"
            failures = pipeline.metrics.registry.get_sample_value(metric, {"scope": "person"})
        lanes = [lane for _, lane in await store.pending_lanes()]
        pending = [d.payload["html"] for lane in lanes for d in await store.lane_batch(lane, 10)]
    finally:
        await store.close()
    assert queued[0] == 1 and any("to Alex" in h for h in pending) and not any("to Sam" in h for h in pending)
    assert failures == 3
    assert any(f"LMS user {seed.mentee1_id} failed unexpectedly" in r.getMessage() for r in caplog.records)
