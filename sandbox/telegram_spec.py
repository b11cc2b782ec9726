"""Checks Bot API calls against the scraped Telegram spec (``telegram_bot_api.json``).

The spec's shape is ``methods{name:{fields[{name, types, required}]}}`` and
``types{name:{fields[...]}}``. Form-encoded calls carry every value as a string (objects
JSON-encoded inside, as PTB sends them), so values are first coerced to the declared type.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sandbox.specs import spec_path

SPEC_FILE = "telegram_bot_api.json"


class SpecError(ValueError):
    """A call the Bot API would refuse; ``str(exc)`` is the description after "Bad Request: "."""


def _is_scalar(kind: str) -> bool:
    return kind in ("Integer", "String", "Boolean", "Float", "Float number", "True", "InputFile")


class TelegramSpec:
    """The Bot API methods and types, loaded once, with a checker for incoming parameters."""

    def __init__(self, path: Path | None = None) -> None:
        """Load the spec from ``path``, by default ``telegram_bot_api.json`` in the shared specs."""
        data = json.loads((path or spec_path(SPEC_FILE)).read_text(encoding="utf-8"))
        self.version: str = data.get("version", "")
        self.methods: dict[str, list[dict[str, Any]]] = {
            name: m.get("fields", []) for name, m in data["methods"].items()
        }
        self.types: dict[str, dict[str, Any]] = data["types"]

    def knows(self, method: str) -> bool:
        """Whether ``method`` exists in the spec (case-insensitive, as Telegram matches)."""
        return self.canonical(method) is not None

    def canonical(self, method: str) -> str | None:
        """The spec's spelling of ``method``, or None."""
        lower = method.lower()
        for name in self.methods:
            if name.lower() == lower:
                return name
        return None

    def check(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Coerce ``params`` to the declared types and check them; return the coerced copy.

        Raises ``SpecError`` for a missing required field, an unknown parameter name or a
        value of the wrong basic type.
        """
        name = self.canonical(method)
        if name is None:
            raise SpecError(f"method {method} not found")
        fields = {f["name"]: f for f in self.methods[name]}
        out: dict[str, Any] = {}
        for key, value in params.items():
            field = fields.get(key)
            if field is None:
                raise SpecError(f"unknown parameter {key!r} for method {name}")
            out[key] = self._coerce(key, value, field["types"])
        for field in fields.values():
            if field["required"] and field["name"] not in out:
                raise SpecError(f"parameter {field['name']!r} is required for method {name}")
        return out

    def _coerce(self, key: str, value: Any, types: list[str]) -> Any:
        """Turn a (possibly form-encoded) value into the first declared type it fits."""
        problems = []
        for kind in types:
            try:
                return self._coerce_one(value, kind)
            except (ValueError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
                problems.append(str(exc))
        detail = "; ".join(p for p in problems if p)
        raise SpecError(
            f"field {key!r} must be of type {' or '.join(types)}" + (f" ({detail})" if detail else "")
        )

    def _coerce_one(self, value: Any, kind: str) -> Any:
        if kind == "Integer":
            if isinstance(value, bool):
                raise TypeError("")
            if isinstance(value, int):
                return value
            if isinstance(value, str) and value.lstrip("-").isdigit():
                return int(value)
            raise ValueError("")
        if kind in ("Float", "Float number"):
            if isinstance(value, bool):
                raise TypeError("")
            return float(value)
        if kind in ("Boolean", "True"):
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise ValueError("")
        if kind == "String":
            if isinstance(value, str):
                return value
            if isinstance(value, int | float) and not isinstance(value, bool):
                return str(value)
            raise TypeError("")
        if kind == "InputFile":
            return value
        # Arrays and objects: JSON-encoded inside form and query values.
        if isinstance(value, str | bytes):
            value = json.loads(value)
        if kind.startswith("Array of "):
            if not isinstance(value, list):
                raise TypeError("")
            inner = kind[len("Array of ") :]
            return [self._coerce_one(item, inner) for item in value]
        return self._check_object(value, kind)

    def _check_object(self, value: Any, kind: str) -> dict[str, Any]:
        """Check a JSON object against the spec type ``kind`` (or one of its subtypes)."""
        if not isinstance(value, dict):
            raise TypeError("")
        spec = self.types.get(kind)
        if spec is None:
            return value  # a type the spec does not describe: accept its shape as is
        subtypes = spec.get("subtypes")
        if subtypes:
            for sub in subtypes:
                try:
                    return self._check_object(value, sub)
                except (ValueError, TypeError):
                    continue
            raise ValueError(f"object does not match any {kind}")
        fields = {f["name"]: f for f in spec.get("fields", [])}
        out: dict[str, Any] = {}
        for name, item in value.items():
            field = fields.get(name)
            if field is None:
                raise ValueError(f"unknown field {name!r} in {kind}")
            out[name] = self._coerce(name, item, field["types"])
        for field in fields.values():
            if field["required"] and field["name"] not in out:
                raise ValueError(f"field {field['name']!r} of {kind} is required")
        return out
