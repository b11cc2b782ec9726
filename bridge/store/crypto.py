"""Encryption of LMS tokens at rest (Fernet: AES-128-CBC with HMAC-SHA256, from cryptography)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

# Decrypted tokens kept in memory, by their ciphertext: a poll cycle reads every link, and a
# Fernet decrypt per link and cycle was a tenth of the cycle's CPU at 10,000 people.
PLAIN_KEPT = 100_000


class TokenCipher:
    """Encrypts and decrypts LMS tokens with the key from the settings."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())
        # Keyed by ciphertext, so a token re-encrypted (a new sign-in) is a new entry; the
        # process holds these tokens in memory whenever it uses them anyway.
        self._plain: dict[str, str] = {}

    def encrypt(self, token: str) -> str:
        return self._fernet.encrypt(token.encode()).decode()

    def decrypt(self, token_enc: str) -> str:
        """Decrypt (once per ciphertext); a token encrypted under another key raises
        ValueError naming the cause."""
        plain = self._plain.get(token_enc)
        if plain is not None:
            return plain
        try:
            plain = self._fernet.decrypt(token_enc.encode()).decode()
        except InvalidToken:
            raise ValueError("stored LMS token cannot be decrypted: store.token_key changed?") from None
        if len(self._plain) >= PLAIN_KEPT:
            self._plain.pop(next(iter(self._plain)))
        self._plain[token_enc] = plain
        return plain


def new_key() -> str:
    """A fresh key for ``store.token_key``."""
    return Fernet.generate_key().decode()
