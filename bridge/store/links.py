"""Links (a Pluto user and a chat identity) and contacts (how to reach a chat identity)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, insert, select, update

from bridge.model import ChatIdentity, Platform
from bridge.store.core import StoreCore, _now
from bridge.store.people import people_choices
from bridge.store.records import DeliveryStatus, Link, LinkStatus
from bridge.store.schema import contacts, links, outbox


def _identity_values(identity: ChatIdentity) -> dict[str, Any]:
    """The columns that name a chat identity in ``links`` and ``contacts``."""
    return {"platform": identity.platform.value, "workspace": identity.workspace, "chat_user_id": identity.user_id}


def _identity_clause(identity: ChatIdentity, table: Any = links) -> Any:
    return and_(*(table.c[column] == value for column, value in _identity_values(identity).items()))


class LinkStore(StoreCore):
    """Reads and writes of ``links`` and ``contacts``."""

    def _link(self, row: Any) -> Link:
        return Link(
            id=row.id,
            identity=ChatIdentity(Platform(row.platform), row.workspace, row.chat_user_id),
            lms_user_id=row.lms_user_id,
            lms_username=row.lms_username,
            lms_fullname=row.lms_fullname,
            status=LinkStatus(row.status),
            status_reason=row.status_reason,
            room=row.room,
            address=row.address,
            current_conversation_id=row.current_conversation_id,
            current_peer_id=row.current_peer_id,
            created_at=row.created_at,
            token=self.cipher.decrypt(row.token_enc),
            origin=row.origin or "",
        )

    async def link_for(self, identity: ChatIdentity) -> Link | None:
        row = await self._first(select(links).where(_identity_clause(identity)))
        return self._link(row) if row else None

    async def link_by_id(self, link_id: int) -> Link | None:
        row = await self._first(select(links).where(links.c.id == link_id))
        return self._link(row) if row else None

    async def links_of_user(self, lms_user_id: int, *, active_only: bool = True) -> list[Link]:
        query = select(links).where(links.c.lms_user_id == lms_user_id)
        if active_only:
            query = query.where(links.c.status == LinkStatus.ACTIVE)
        return [self._link(r) for r in await self._rows(query.order_by(links.c.id))]

    async def active_links(self) -> list[Link]:
        query = select(links).where(links.c.status == LinkStatus.ACTIVE).order_by(links.c.id)
        return [self._link(r) for r in await self._rows(query)]

    async def all_links(self) -> list[Link]:
        return [self._link(r) for r in await self._rows(select(links).order_by(links.c.id))]

    async def save_link(
        self,
        identity: ChatIdentity,
        *,
        lms_user_id: int,
        lms_username: str,
        lms_fullname: str,
        token: str,
        room: str | None,
        address: dict[str, Any] | None,
        origin: str = "",
    ) -> Link:
        """Create or replace the link of ``identity`` (a new sign-in replaces the old token).
        ``origin`` says how and from where it was made (shown by ``link list``)."""
        now = _now()
        values = {
            **_identity_values(identity),
            "lms_user_id": lms_user_id,
            "lms_username": lms_username,
            "lms_fullname": lms_fullname,
            "token_enc": self.cipher.encrypt(token),
            "status": LinkStatus.ACTIVE,
            "status_reason": "",
            "room": room,
            "address": address,
            "created_at": now,
            "updated_at": now,
            "origin": origin,
        }
        async with self._write() as conn:
            existing = (
                await conn.execute(select(links.c.id, links.c.lms_user_id).where(_identity_clause(identity)))
            ).first()
            if existing is None:
                await conn.execute(insert(links).values(**values))
            else:
                changes = dict(values)  # a new sign-in is a new link: its time and origin are now
                if existing.lms_user_id != lms_user_id:
                    changes.update(current_conversation_id=None, current_peer_id=None)
                await conn.execute(update(links).where(links.c.id == existing.id).values(**changes))
        link = await self.link_for(identity)
        assert link is not None
        return link

    async def delete_link(self, identity: ChatIdentity) -> Link | None:
        """Delete the link and its token; pending deliveries to it are dropped."""
        link = await self.link_for(identity)
        if link is None:
            return None
        async with self._write() as conn:
            await conn.execute(delete(links).where(links.c.id == link.id))
            # The names of the people the person last listed go with the link.
            await conn.execute(delete(people_choices).where(people_choices.c.link_id == link.id))
            await conn.execute(
                update(outbox)
                .where(outbox.c.link_id == link.id, outbox.c.status == DeliveryStatus.PENDING)
                .values(status=DeliveryStatus.DEAD, last_error="unlinked")
            )
        return link

    async def set_link_status(self, link_id: int, status: LinkStatus, reason: str = "") -> bool:
        """Change a link's status; returns True if it changed (so a notice goes out once)."""
        async with self._write() as conn:
            result = await conn.execute(
                update(links)
                .where(links.c.id == link_id, links.c.status != status)
                .values(status=status, status_reason=reason, updated_at=_now())
            )
            if status == LinkStatus.INACTIVE:
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.link_id == link_id, outbox.c.status == DeliveryStatus.PENDING)
                    .values(status=DeliveryStatus.DEAD, last_error=f"recipient unreachable: {reason}")
                )
        return bool(result.rowcount)

    async def set_current(self, link_id: int, conversation_id: int | None, peer_id: int | None) -> None:
        async with self._write() as conn:
            await conn.execute(
                update(links)
                .where(links.c.id == link_id)
                .values(current_conversation_id=conversation_id, current_peer_id=peer_id)
            )

    async def set_link_room(self, link_id: int, room: str) -> None:
        """The adapter opened the person's private chat: keep its id for later sends."""
        async with self._write() as conn:
            await conn.execute(update(links).where(links.c.id == link_id).values(room=room))

    async def set_current_for_lms_user(self, lms_user_id: int, conversation_id: int, peer_id: int | None) -> None:
        """The person last received from this conversation: it becomes their current one."""
        async with self._write() as conn:
            await conn.execute(
                update(links)
                .where(links.c.lms_user_id == lms_user_id)
                .values(current_conversation_id=conversation_id, current_peer_id=peer_id)
            )

    async def remember_contact(
        self, identity: ChatIdentity, display_name: str, room: str | None, address: dict[str, Any] | None
    ) -> bool:
        """Keep how to reach a chat identity; refresh a link's room and address too.
        Returns True the first time this identity makes contact (exactly once, even for
        two events that arrive together)."""
        now = _now()
        values = {
            **_identity_values(identity),
            "display_name": display_name,
            "room": room,
            "address": address,
            "last_seen": now,
        }
        keys = ("platform", "workspace", "chat_user_id")
        async with self._write() as conn:
            # Insert-or-ignore decides "first" atomically; the update then refreshes the row.
            first = await self._insert_new(conn, contacts, values, keys)
            if not first:
                await conn.execute(
                    update(contacts)
                    .where(_identity_clause(identity, contacts))
                    .values(display_name=display_name, room=room, address=address, last_seen=now)
                )
            changes: dict[str, Any] = {"room": room}
            if address is not None:
                changes["address"] = address
            await conn.execute(update(links).where(_identity_clause(identity)).values(**changes))
        return first

    async def contact(self, identity: ChatIdentity) -> tuple[str | None, dict[str, Any] | None]:
        """The room and address last seen for ``identity``."""
        row = await self._first(select(contacts.c.room, contacts.c.address).where(_identity_clause(identity, contacts)))
        return (row.room, row.address) if row else (None, None)
