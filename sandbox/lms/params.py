"""Request arguments: PHP bracket-array decoding and Moodle-style parameter validation.

Moodle's REST server leans on PHP to turn ``messages[0][text]=hi`` into nested arrays, then
``external_api::validate_parameters`` checks them against the function's description and
throws ``invalid_parameter_exception`` on anything missing, malformed or unexpected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import invalid_parameter

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


def decode_brackets(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Turn PHP-style names (``a[0][b]=x``, ``v[]=1``) into nested dicts and lists.

    Containers whose keys are all integers become lists in key order, as PHP arrays
    with numeric keys iterate.
    """
    root: dict[str, Any] = {}
    for name, value in pairs:
        m = _KEY.match(name)
        if m is None:
            root[name] = value
            continue
        path = [m.group(1), *_PART.findall(m.group(2))]
        node: dict[str, Any] = root
        for i, part in enumerate(path):
            last = i == len(path) - 1
            if part == "":  # PHP's append syntax: next free integer key
                part = str(len(node))
            if last:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = {}
                    node[part] = child
                node = child
    return {k: _listify(v) for k, v in root.items()}


def _listify(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    converted = {k: _listify(v) for k, v in value.items()}
    if converted and all(re.fullmatch(r"-?\d+", k) for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Int:
    """PARAM_INT."""

    default: Any = REQUIRED
    allow_null: bool = False

    def clean(self, value: Any) -> int | None:
        if value is None and self.allow_null:
            return None
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return int(value.strip())
        raise invalid_parameter()


@dataclass(frozen=True)
class Bool:
    """PARAM_BOOL: 0/1/true/false."""

    default: Any = REQUIRED
    allow_null: bool = False

    def clean(self, value: Any) -> bool | None:
        if value is None and self.allow_null:
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true"):
            return True
        if text in ("0", "false", ""):
            return False
        raise invalid_parameter()


@dataclass(frozen=True)
class Str:
    """PARAM_RAW / PARAM_TEXT / PARAM_ALPHANUMEXT (``pattern`` restricts the accepted text)."""

    default: Any = REQUIRED
    pattern: str | None = None
    allow_null: bool = False

    def clean(self, value: Any) -> str | None:
        if value is None and self.allow_null:
            return None
        if isinstance(value, (dict, list)):
            raise invalid_parameter()
        text = str(value)
        if self.pattern is not None and not re.fullmatch(self.pattern, text):
            raise invalid_parameter()
        return text


ALPHANUMEXT = r"[A-Za-z0-9_-]*"


@dataclass(frozen=True)
class List:
    """external_multiple_structure."""

    item: Spec
    default: Any = REQUIRED

    def clean(self, value: Any) -> list[Any]:
        if value is None or value == "":
            return []
        if isinstance(value, dict):  # a PHP array with string keys still iterates its values
            value = list(value.values())
        if not isinstance(value, list):
            raise invalid_parameter()
        return [self.item.clean(v) for v in value]


@dataclass(frozen=True)
class Struct:
    """external_single_structure: every key described, no unexpected keys."""

    fields: Mapping[str, Spec] = field(default_factory=dict)
    default: Any = REQUIRED

    def clean(self, value: Any) -> dict[str, Any]:
        if value is None or value == "":
            value = {}
        if not isinstance(value, dict):
            raise invalid_parameter()
        return clean_args(self.fields, value)


Spec = Int | Bool | Str | List | Struct

_OMIT: Any = object()


def optional(spec: Spec) -> Spec:
    """Mark a structure field VALUE_OPTIONAL: absent stays absent."""
    return type(spec)(**{**spec.__dict__, "default": _OMIT})


def clean_args(fields: Mapping[str, Spec], raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``raw`` against ``fields``; returns the cleaned arguments with defaults filled."""
    unexpected = set(raw) - set(fields)
    if unexpected:
        raise invalid_parameter()
    out: dict[str, Any] = {}
    for name, spec in fields.items():
        if name in raw:
            out[name] = spec.clean(raw[name])
        elif spec.default is REQUIRED:
            raise invalid_parameter()
        elif spec.default is not _OMIT:
            out[name] = spec.default
    return out
