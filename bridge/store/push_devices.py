"""Rows of ``push_devices``: which push id belongs to which link, and how far it got."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update

from bridge.store.schema import push_devices
from bridge.store.store import Store


@dataclass(frozen=True, slots=True)
class PushDevice:
    """The device the bridge registered for one link."""

    link_id: int
    lms_user_id: int
    push_id: str
    uuid: str
    appid: str
    added_at: int | None
    site_registered_at: int | None


class PushDevices:
    """Queries on ``push_devices``, on the store's engine and write queue."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def all(self) -> list[PushDevice]:
        """Every device row, by link id."""
        async with self.store.engine.connect() as conn:
            rows = (await conn.execute(select(push_devices).order_by(push_devices.c.link_id))).all()
        return [_device(r) for r in rows]

    async def of_link(self, link_id: int) -> PushDevice | None:
        async with self.store.engine.connect() as conn:
            row = (await conn.execute(select(push_devices).where(push_devices.c.link_id == link_id))).first()
        return _device(row) if row is not None else None

    async def create(self, device: PushDevice) -> None:
        """Write the row before the LMS hears of the push id, so no push can name an unknown one."""
        async with self.store._write() as conn:
            await conn.execute(delete(push_devices).where(push_devices.c.link_id == device.link_id))
            await conn.execute(
                insert(push_devices).values(
                    link_id=device.link_id,
                    lms_user_id=device.lms_user_id,
                    push_id=device.push_id,
                    uuid=device.uuid,
                    appid=device.appid,
                    added_at=device.added_at,
                    site_registered_at=device.site_registered_at,
                    created_at=int(time.time()),
                )
            )

    async def mark_added(self, link_id: int) -> None:
        await self._set(push_devices.c.link_id == link_id, added_at=int(time.time()))

    async def mark_not_added(self, link_id: int) -> None:
        """The token that added it died: register again at the next sign-in."""
        await self._set(push_devices.c.link_id == link_id, added_at=None)

    async def mark_site_registered(self, push_id: str) -> None:
        await self._set(push_devices.c.push_id == push_id, site_registered_at=int(time.time()))

    async def remove(self, link_id: int) -> None:
        async with self.store._write() as conn:
            await conn.execute(delete(push_devices).where(push_devices.c.link_id == link_id))

    async def _set(self, where: Any, **values: Any) -> None:
        async with self.store._write() as conn:
            await conn.execute(update(push_devices).where(where).values(**values))


def _device(row: Any) -> PushDevice:
    return PushDevice(
        link_id=row.link_id,
        lms_user_id=row.lms_user_id,
        push_id=row.push_id,
        uuid=row.uuid,
        appid=row.appid,
        added_at=row.added_at,
        site_registered_at=row.site_registered_at,
    )
