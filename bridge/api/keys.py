"""API keys: made once, shown once, stored only as a hash."""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "pbk_"
SCOPES = ("chat", "pluto")


def new_key() -> tuple[str, str, str]:
    """A new key: (the key to show once, its hash to store, a short prefix to name it)."""
    key = PREFIX + secrets.token_urlsafe(32)
    return key, hash_key(key), key[: len(PREFIX) + 6]


def hash_key(key: str) -> str:
    """The stored form of a key. A plain SHA-256 suffices: keys carry 256 random bits, so
    there is nothing to guess, unlike passwords that need a slow hash."""
    return hashlib.sha256(key.encode()).hexdigest()


def bearer(header: str | None) -> str | None:
    """The key of an ``Authorization: Bearer KEY`` header, or None."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None
