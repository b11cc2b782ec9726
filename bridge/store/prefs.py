"""Each Pluto user's preferences (quiet hours, muted kinds) as one JSON document."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bridge.store.core import StoreCore, _now
from bridge.store.schema import preferences


class PrefStore(StoreCore):
    """Reads and writes of ``preferences``."""

    async def preferences_of(self, lms_user_id: int) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            data = (
                await conn.execute(select(preferences.c.data).where(preferences.c.lms_user_id == lms_user_id))
            ).scalar_one_or_none()
        return dict(data or {})

    async def set_preferences(self, lms_user_id: int, data: dict[str, Any]) -> None:
        async with self._write() as conn:
            await self._upsert(
                conn,
                preferences,
                {"lms_user_id": lms_user_id, "data": data, "updated_at": _now()},
                ("lms_user_id",),
                ("data", "updated_at"),
            )
