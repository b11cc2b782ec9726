"""The log's two shapes (``log.format``): readable text lines, or one JSON object per line
for log collectors.

A JSON line has ``time`` (ISO 8601, UTC), ``level``, ``logger`` and ``message``; ``link_id``
and ``platform`` where the code that logged knows them (passed as ``extra={"link_id": ...,
"platform": ...}``), and ``exception`` with the traceback when there is one.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from bridge.store.records import Link

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONTEXT_FIELDS = ("link_id", "platform")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = getattr(value, "value", value)  # a Platform enum as its name
        if record.exc_info:
            # exc_text, when set, is the traceback already masked by the redacting filter.
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def link_context(link: Link) -> dict[str, object]:
    """``extra=`` for a log line about one link (the JSON format shows it)."""
    return {"link_id": link.id, "platform": link.identity.platform.value}


def setup_logging(level: str, fmt: Literal["text", "json"] = "text") -> None:
    """Configure the root logger on standard error in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
