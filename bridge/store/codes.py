"""One-time link codes: a chat identity awaiting sign-in, or a signed-in person awaiting their chat identity."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from bridge.store.core import StoreCore, _now
from bridge.store.schema import link_codes


class CodeStore(StoreCore):
    """Reads and writes of ``link_codes``."""

    async def create_code(self, code: str, ttl: int, **values: Any) -> None:
        """Store a one-time code: for a chat identity awaiting sign-in, or a signed-in
        person awaiting their chat identity (``token`` given)."""
        token = values.pop("token", None)
        if token is not None:
            values["token_enc"] = self.cipher.encrypt(token)
        async with self._write() as conn:
            await conn.execute(insert(link_codes).values(code=code, expires_at=_now() + ttl, failures=0, **values))
            # Expired codes are worthless; clearing them here keeps the table small.
            await conn.execute(delete(link_codes).where(link_codes.c.expires_at < _now() - 86400))

    async def peek_code(self, code: str) -> dict[str, Any] | None:
        """A usable code's row (not expired, not used, not burnt by failures)."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(link_codes).where(
                        link_codes.c.code == code,
                        link_codes.c.used_at.is_(None),
                        link_codes.c.expires_at >= _now(),
                        link_codes.c.failures < 5,
                    )
                )
            ).first()
        if row is None:
            return None
        data = dict(row._mapping)
        if data.get("token_enc"):
            data["token"] = self.cipher.decrypt(data.pop("token_enc"))
        return data

    async def use_code(self, code: str) -> bool:
        """Mark a code used; False if somebody else used it first."""
        async with self._write() as conn:
            result = await conn.execute(
                update(link_codes)
                .where(link_codes.c.code == code, link_codes.c.used_at.is_(None))
                .values(used_at=_now(), token_enc=None)
            )
        return bool(result.rowcount)

    async def code_failed(self, code: str) -> None:
        async with self._write() as conn:
            await conn.execute(
                update(link_codes).where(link_codes.c.code == code).values(failures=link_codes.c.failures + 1)
            )
