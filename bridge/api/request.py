"""A send request: the JSON body of ``POST /api/v1/messages``, checked and rendered."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt

from bridge.inbound.relay import MAX_LMS_BYTES
from bridge.render import chat_text_to_lms, escape, sanitize_lms_html, to_plain, utf8_len

MAX_RECIPIENTS = 1000
MAX_TEXT = 20000
MAX_BUTTONS = 5
MAX_LABEL = 64
MAX_URL = 2048
DELIVER = ("chat", "pluto", "both")
FORMATS = ("plain", "markdown")
RECIPIENT_FIELDS = ("id", "username", "email")

# CommonMark without raw HTML: what a sender writes as HTML shows as text.
_MARKDOWN = MarkdownIt("commonmark", {"html": False})


class RequestError(ValueError):
    """The request cannot be accepted; ``problems`` names each field and what is wrong."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class SendRequest:
    """A valid request: recipients as given, the text as safe HTML (chat) and plain text
    (Pluto), where it goes, and its link buttons."""

    recipients: list[dict[str, Any]]
    html: str
    plain: str
    deliver: str
    urgent: bool
    buttons: list[dict[str, str]]

    @property
    def scopes(self) -> set[str]:
        """The key scopes this request needs."""
        return {"chat", "pluto"} if self.deliver == "both" else {self.deliver}

    def stored(self) -> dict[str, Any]:
        """What the job keeps of the request (the runner needs nothing else)."""
        return {
            "html": self.html,
            "plain": self.plain,
            "deliver": self.deliver,
            "urgent": self.urgent,
            "buttons": self.buttons,
        }


def request_hash(body: Any) -> str:
    """A fingerprint of the request, to tell a retry from another request under one
    Idempotency-Key."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _recipients(value: Any, problems: list[str]) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        problems.append("recipients: a non-empty list of {id | username | email} is required")
        return []
    if len(value) > MAX_RECIPIENTS:
        problems.append(f"recipients: at most {MAX_RECIPIENTS} per request (got {len(value)})")
        return []
    found: list[dict[str, Any]] = []
    for n, entry in enumerate(value):
        keys = [k for k in RECIPIENT_FIELDS if isinstance(entry, dict) and k in entry]
        if not isinstance(entry, dict) or len(keys) != 1 or len(entry) != 1:
            problems.append(f"recipients[{n}]: give exactly one of id, username, email")
            continue
        (field_name,) = keys
        given = entry[field_name]
        if field_name == "id":
            if not isinstance(given, int) or isinstance(given, bool) or given <= 0:
                problems.append(f"recipients[{n}].id: must be a positive integer")
                continue
        elif not isinstance(given, str) or not given.strip() or len(given) > 255:
            problems.append(f"recipients[{n}].{field_name}: must be a non-empty string of at most 255 characters")
            continue
        else:
            given = given.strip()
        found.append({field_name: given})
    return found


def _buttons(value: Any, problems: list[str]) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_BUTTONS:
        problems.append(f"buttons: a list of at most {MAX_BUTTONS} {{label, url}}")
        return []
    found = []
    for n, button in enumerate(value):
        label = button.get("label") if isinstance(button, dict) else None
        url = button.get("url") if isinstance(button, dict) else None
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL:
            problems.append(f"buttons[{n}].label: a non-empty string of at most {MAX_LABEL} characters")
        elif not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > MAX_URL:
            problems.append(f"buttons[{n}].url: an http:// or https:// address of at most {MAX_URL} characters")
        else:
            found.append({"label": label.strip(), "url": url})
    return found


def parse_request(body: Any) -> SendRequest:
    """Check a decoded JSON body; ``RequestError`` lists every problem at once."""
    if not isinstance(body, dict):
        raise RequestError(["the body must be a JSON object"])
    problems: list[str] = []
    unknown = sorted(set(body) - {"recipients", "text", "format", "deliver", "urgent", "buttons"})
    if unknown:
        problems.append(f"unknown field(s): {', '.join(unknown)}")
    recipients = _recipients(body.get("recipients"), problems)
    text = body.get("text")
    text_format = body.get("format", "plain")
    deliver = body.get("deliver", "chat")
    urgent = body.get("urgent", False)
    if not isinstance(text, str) or not text.strip():
        problems.append("text: a non-empty string is required")
        text = ""
    elif len(text) > MAX_TEXT:
        problems.append(f"text: at most {MAX_TEXT} characters (got {len(text)})")
    if text_format not in FORMATS:
        problems.append(f"format: one of {', '.join(FORMATS)} (got {text_format!r})")
    if deliver not in DELIVER:
        problems.append(f"deliver: one of {', '.join(DELIVER)} (got {deliver!r})")
    if not isinstance(urgent, bool):
        problems.append("urgent: true or false")
    buttons = _buttons(body.get("buttons"), problems)
    html = sanitize_lms_html(_MARKDOWN.render(text)) if text_format == "markdown" else f"<p>{escape(text)}</p>"
    # Pluto gets plain text (textformat 2: it escapes it itself) with each button as a line.
    plain = chat_text_to_lms("\n\n".join([to_plain(html), *(f"{b['label']}: {b['url']}" for b in buttons)]))
    if deliver in ("pluto", "both") and utf8_len(plain) > MAX_LMS_BYTES:
        problems.append(f"text: Pluto accepts at most {MAX_LMS_BYTES} bytes in a message (this has {utf8_len(plain)})")
    if problems:
        raise RequestError(problems)
    return SendRequest(recipients, html, plain, str(deliver), bool(urgent), buttons)
