"""Encryption of LMS tokens at rest (Fernet: AES-128-CBC with HMAC-SHA256, from cryptography)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken


class TokenCipher:
    """Encrypts and decrypts LMS tokens with the key from the settings."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())

    def encrypt(self, token: str) -> str:
        return self._fernet.encrypt(token.encode()).decode()

    def decrypt(self, token_enc: str) -> str:
        """Decrypt; a token encrypted under another key raises ValueError naming the cause."""
        try:
            return self._fernet.decrypt(token_enc.encode()).decode()
        except InvalidToken:
            raise ValueError("stored LMS token cannot be decrypted: store.token_key changed?") from None


def new_key() -> str:
    """A fresh key for ``store.token_key``."""
    return Fernet.generate_key().decode()
