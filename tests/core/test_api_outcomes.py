"""What ``GET /api/v1/messages/{job}`` says of a recipient's chat notice, from its outbox rows."""

from __future__ import annotations

import pytest

from bridge.api.runner import chat_outcome
from bridge.store.api_jobs import RecipientRow


def queued(position: int = 0) -> RecipientRow:
    return RecipientRow("job", position, {"username": "sam"}, 4, "Sam", "queued", "", None, "", "")


@pytest.mark.parametrize(
    ("rows", "status"),
    [
        ([], "pending"),
        ([("pending", "")], "pending"),
        ([("held", "")], "pending"),
        # Being sent right now: a client polling at that moment must not read "refused" and stop.
        ([("sending", "")], "pending"),
        ([("sent", "")], "delivered"),
        ([("dead", "blocked the bot"), ("sent", "")], "delivered"),
        ([("dead", "blocked the bot")], "refused"),
    ],
)
def test_chat_outcome_follows_the_outbox(rows: list[tuple[str, str]], status: str) -> None:
    assert chat_outcome(queued(), rows)["status"] == status


def test_a_refused_notice_names_the_reason() -> None:
    assert chat_outcome(queued(), [("dead", "blocked the bot")]) == {"status": "refused", "reason": "blocked the bot"}
