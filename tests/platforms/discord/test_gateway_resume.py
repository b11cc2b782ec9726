"""Gateway resilience: discord.py reconnects and RESUMEs on its own; each event reaches the
sink exactly once, with the Discord id as event_id (the core's dedupe key)."""

from bridge.model import CommandEvent, MessageEvent

OP_IDENTIFY, OP_RESUME = 2, 6


def frames(sandbox, op: int) -> list[dict]:
    return [f for f in sandbox.gateway_frames if f.get("op") == op]


async def test_dropped_connection_is_resumed_and_missed_events_replayed_once(sandbox, adapter, sink):
    ada = sandbox.add_user(name="Ada")
    before = await sandbox.user_dm(ada, "before the drop")
    await sandbox.wait_until(lambda: len(sink.events) == 1)
    last_seq = sandbox.session_seq

    sandbox.drop_connection()  # abrupt: no close frame
    missed = [await sandbox.user_dm(ada, "missed one"), await sandbox.user_dm(ada, "missed two")]
    slash = await sandbox.user_slash(ada, "status")
    await sandbox.wait_until(lambda: len(sink.events) == 4)
    after = await sandbox.user_dm(ada, "after the resume")
    await sandbox.wait_until(lambda: len(sink.events) == 5)

    [resume] = frames(sandbox, OP_RESUME)
    assert resume["d"]["seq"] == last_seq
    assert resume["d"]["session_id"] == sandbox.session_id
    assert len(frames(sandbox, OP_IDENTIFY)) == 1  # resumed, not re-identified
    ids = [e.event_id for e in sink.events]
    assert len(ids) == len(set(ids))
    expected = [before["id"], *(m["id"] for m in missed), slash["id"], after["id"]]
    assert sorted(ids) == sorted(expected)
    texts = sorted(e.text for e in sink.events if isinstance(e, MessageEvent))
    assert texts == sorted(["before the drop", "missed one", "missed two", "after the resume"])
    assert [e.name for e in sink.events if isinstance(e, CommandEvent)] == ["status"]
    # the replayed interaction was still answered (deferred) exactly once
    assert sandbox.interactions[slash["id"]].callbacks == [{"type": 5, "data": {"flags": 64}}]


async def test_op7_reconnect_resumes(sandbox, adapter, sink):
    ada = sandbox.add_user(name="Ada")
    await sandbox.send_reconnect()
    await sandbox.wait_until(lambda: frames(sandbox, OP_RESUME))
    await sandbox.wait_connected()
    await sandbox.user_dm(ada, "still here")
    await sandbox.wait_until(lambda: sink.events)
    assert [e.text for e in sink.events if isinstance(e, MessageEvent)] == ["still here"]
    assert len(frames(sandbox, OP_IDENTIFY)) == 1


async def test_invalid_session_identifies_again(sandbox, adapter, sink):
    ada = sandbox.add_user(name="Ada")
    await sandbox.invalidate_session(resumable=False)
    await sandbox.wait_until(lambda: len(frames(sandbox, OP_IDENTIFY)) == 2)
    await sandbox.wait_connected()
    await sandbox.user_dm(ada, "new session")
    await sandbox.wait_until(lambda: sink.events)
    assert [e.text for e in sink.events if isinstance(e, MessageEvent)] == ["new session"]
    assert frames(sandbox, OP_RESUME) == []


async def test_event_replayed_twice_keeps_its_discord_id(sandbox, adapter, sink):
    """If Discord replays an event the client already saw, the adapter hands it on with the
    same event_id, which is what the core drops repeats by."""
    sandbox.resume_overlap = 1
    ada = sandbox.add_user(name="Ada")
    seen = await sandbox.user_dm(ada, "seen before the drop")
    await sandbox.wait_until(lambda: len(sink.events) == 1)
    sandbox.drop_connection()
    await sandbox.wait_until(lambda: len(sink.events) == 2)
    assert [e.event_id for e in sink.events] == [seen["id"], seen["id"]]
    assert [e.text for e in sink.events if isinstance(e, MessageEvent)] == ["seen before the drop"] * 2
