"""The inbound half of the core: chat events in, LMS actions and answers out.

``runner`` owns each person's turn, the acknowledgement and the answer; ``core`` (the
``Inbound`` handler) journals and dispatches each event to the command set (``commands``,
``item_commands``), the relay (``relay``) or the item actions.

``Inbound`` is loaded on first use, so importing ``bridge.inbound.runner`` or
``bridge.inbound.interaction`` (what adapters see) does not load the store or the LMS client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bridge.inbound.core import Inbound

__all__ = ["Inbound"]


def __getattr__(name: str) -> Any:
    if name == "Inbound":
        from bridge.inbound.core import Inbound

        return Inbound
    raise AttributeError(name)
