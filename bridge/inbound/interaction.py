"""What an adapter hands the core for one thing a person did: an ``Interaction``.

The adapter turns the platform's event into a ``ChatEvent`` and says how to acknowledge
the platform (``ack``: the HTTP 200, Bolt's ``ack()``, Telegram's offset) and how to show
the person the outcome (``answer``). The core's runner (``bridge.inbound.runner``) decides
when: it journals the event, acknowledges within ``deadline``, hands the event to the core
in the person's turn and answers, also when the core fails. Adapters neither order, guard
nor track.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bridge.model import ChatEvent, Reply

# An ActionEvent whose ``action_id`` is this before a decision's id says: the adapter asked
# the person for that decision's reason with its own question (``ActionEvent.message``,
# Telegram's ForceReply). The core keeps the decision waiting; the person's reply to the
# question (a MessageEvent replying to it) decides, with the reply as the reason.
ASKS_REASON = "why:"


async def _nothing() -> None:
    return None


async def _show_nothing(reply: Reply | None) -> None:
    return None


@dataclass(eq=False, slots=True)
class Interaction:
    """One event from a person, with the platform's ways to acknowledge and to answer.

    - ``event``: the event in the core's vocabulary.
    - ``ack``: tells the platform the event is taken; awaited once, after the event is
      journalled, and within ``deadline`` at the latest. It returns False when the platform
      refuses it (the interaction expired, or was acknowledged before): the event is then
      dropped, not handled.
    - ``answer``: shows the core's reply to the person (None: nothing to show; the adapter
      may still need to, e.g., stop a button's spinner). Posts in the person's chat go
      through ``Runner.deliver`` (paced ahead of their lane, retried with the outbox's
      policy); only a platform's one-off response channel (Slack's ``response_url``,
      Discord's interaction token, Telegram's callback toast, Teams' invoke response) is
      used directly, at once.
    - ``deadline``: when (the event loop's clock, ``loop.time()``) the platform must have
      its acknowledgement (Slack: 3 s after the request arrived); None where the platform
      waits as long as needed.
    - ``answer_within`` / ``late``: where the person waits visibly (a pressed button's
      spinner), ``late`` is awaited once when the core's reply takes longer than
      ``answer_within`` seconds; ``answer`` follows when the reply is there.
    """

    event: ChatEvent
    ack: Callable[[], Awaitable[bool | None]] = _nothing
    answer: Callable[[Reply | None], Awaitable[None]] = _show_nothing
    deadline: float | None = None
    answer_within: float | None = None
    late: Callable[[], Awaitable[None]] | None = None
