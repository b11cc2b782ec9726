"""Carries out accepted send jobs: finds each recipient, queues their chat notice through
the outbox (their own links and preferences) and sends into Pluto as the key's sender.

Every step is recorded per recipient, so a restart resumes a job where it stopped: the
outbox takes each (item, link) once, and a Pluto send that may have happened when the
process died is reported as unknown, never repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from bridge.lms.api import LmsApi
from bridge.lms.errors import LmsError, LmsUnavailable, TokenRejected
from bridge.lms.refusals import explain_refusal
from bridge.model import Action, Item, ItemKind
from bridge.render import escape
from bridge.router import provider_of, quiet_until, route
from bridge.store import api_jobs
from bridge.store.api_jobs import ApiKey, JobRow, RecipientRow
from bridge.store.records import DeliveryStatus
from bridge.store.store import Store

log = logging.getLogger(__name__)

REVISIT = 5.0  # seconds between looks at jobs waiting for someone's quiet hours to end


def item_key(job_id: str, position: int) -> str:
    """The outbox item key of one recipient's chat notice."""
    return f"api:{job_id}:{position}"


def notice_item(key: ApiKey, request: dict[str, Any], lms_user_id: int, item_key_: str) -> Item:
    """The chat notice: the sender's name on top, as every bridged message has it. Routed as
    an alert of type ``api/KEY-NAME``, so people can switch a sending system off."""
    html = f"<p><b>{escape(key.sender_fullname or key.sender_username)}</b> · via {escape(key.name)}</p>"
    actions = tuple(
        Action(id=f"url{n}", label=b["label"], url=b["url"]) for n, b in enumerate(request.get("buttons") or [])
    )
    return Item(
        key=item_key_,
        kind=ItemKind.ALERT,
        lms_user_id=lms_user_id,
        html=html + str(request["html"]),
        time=int(time.time()),
        actions=actions,
        urgent=bool(request.get("urgent")),
        data={"component": "api", "eventtype": key.name},
    )


class ApiRunner:
    """Works through jobs one at a time, in the bridge process."""

    def __init__(
        self,
        store: Store,
        api: LmsApi,
        operator_token: str | None,
        wake_dispatcher: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.api = api
        self.operator_token = operator_token
        self.wake_dispatcher = wake_dispatcher
        self._queue: asyncio.Queue[str] = asyncio.Queue()

    def submit(self, job_id: str) -> None:
        """A job was accepted: carry it out soon."""
        self._queue.put_nowait(job_id)

    async def run(self) -> None:
        """Resume unfinished jobs, then take new ones; revisit held ones now and then."""
        for unfinished in await api_jobs.open_job_ids(self.store):
            self.submit(unfinished)
        while True:
            new: str | None = None
            with contextlib.suppress(TimeoutError):
                new = await asyncio.wait_for(self._queue.get(), REVISIT)
            ids = [new] if new is not None else await api_jobs.open_job_ids(self.store)
            for one in ids:
                try:
                    await self.process(one)
                except asyncio.CancelledError:
                    raise
                except Exception:  # one bad job must not stop the others
                    log.exception("API job %s failed", one)

    async def process(self, job_id: str) -> None:
        """Take every recipient of the job one step further; finish the job when done."""
        job = await api_jobs.job(self.store, job_id)
        if job is None or job.status == "done":
            return
        key = next((k for k in await api_jobs.list_keys(self.store) if k.id == job.key_id), None)
        if key is None:
            return
        await self._resolve(job)
        job = await api_jobs.job(self.store, job_id)
        assert job is not None
        deliver = job.request["deliver"]
        sender_token = await self._sender_token(key) if deliver in ("pluto", "both") else None
        waiting = False
        for r in job.recipients:
            pluto = await self._pluto(job, r, sender_token) if deliver in ("pluto", "both") else ""
            if deliver == "both" and pluto == "delivered" and r.chat == "":
                # The bridge carries the Pluto message itself to their chat (as any message
                # to them): a notice as well would show it twice.
                await api_jobs.update_recipient(
                    self.store, job.id, r.position, chat="via_pluto", chat_reason="the Pluto message reaches their chat"
                )
            elif deliver in ("chat", "both"):
                waiting = await self._chat(job, key, r) or waiting
        self.wake_dispatcher()
        if not waiting:
            await api_jobs.finish_job(self.store, job_id)

    async def _resolve(self, job: JobRow) -> None:
        """Pluto user ids for recipients given by username or email: linked people first,
        then the LMS with the operator's ``lms.token``."""
        todo = [r for r in job.recipients if r.lms_user_id is None and r.chat != "unknown" and r.pluto != "unknown"]
        if not todo:
            return
        found: dict[tuple[str, str], tuple[int, str]] = {}
        for field_name in ("id", "username", "email"):
            values = sorted({str(r.spec[field_name]) for r in todo if field_name in r.spec})
            if not values:
                continue
            if field_name != "email":
                for value, linked in (await api_jobs.linked_people(self.store, field_name, values)).items():
                    found[(field_name, value)] = linked
            missing = [v for v in values if (field_name, v) not in found]
            if missing and self.operator_token is not None:
                users = await self.api.users_by_field(self.operator_token, field_name, missing)
                for user in users:
                    found[(field_name, str(user.get(field_name, "")))] = (
                        int(user["id"]),
                        str(user.get("fullname") or ""),
                    )
        for r in todo:
            ((field_name, value),) = r.spec.items()
            person: tuple[int, str] | None = found.get((field_name, str(value)))
            if person is None and field_name == "id":
                person = (int(value), "")  # Pluto itself will say if there is no such user
            if person is None:
                reason = f"no Pluto user with this {field_name}"
                if self.operator_token is None:
                    reason += " among linked people (set lms.token to look up anyone)"
                await api_jobs.update_recipient(
                    self.store,
                    job.id,
                    r.position,
                    chat="unknown",
                    chat_reason=reason,
                    pluto="unknown",
                    pluto_reason=reason,
                )
            else:
                await api_jobs.update_recipient(
                    self.store, job.id, r.position, lms_user_id=person[0], fullname=person[1]
                )

    async def _chat(self, job: JobRow, key: ApiKey, r: RecipientRow) -> bool:
        """Queue the recipient's chat notice; True while it waits for their quiet hours."""
        if r.lms_user_id is None or r.chat not in ("", "held"):
            return False
        now = time.time()
        links = await self.store.links_of_user(r.lms_user_id)
        if not links:
            await api_jobs.update_recipient(
                self.store, job.id, r.position, chat="not_linked", chat_reason="has not linked a chat account"
            )
            return False
        preferences = await self.store.preferences_of(r.lms_user_id)
        item = notice_item(key, job.request, r.lms_user_id, item_key(job.id, r.position))
        deliveries = route(item, links, preferences, now)
        if not deliveries:
            reason = f"switched off messages of type {provider_of(item)}"
            await api_jobs.update_recipient(self.store, job.id, r.position, chat="muted", chat_reason=reason)
            return False
        until = None if item.urgent else quiet_until(preferences, now)
        if until is not None:
            # Held here, not in the outbox: the quiet-hours digest lists LMS items only.
            # Asked again at each visit, so switching quiet hours off releases it too.
            if r.chat != "held":
                await api_jobs.update_recipient(
                    self.store, job.id, r.position, chat="held", chat_after=until, chat_reason="quiet hours"
                )
            return True
        await self.store.enqueue([dataclasses.replace(d, held_until=None) for d in deliveries])
        await api_jobs.update_recipient(self.store, job.id, r.position, chat="queued", chat_reason="")
        return False

    async def _sender_token(self, key: ApiKey) -> str | None:
        links = await self.store.links_of_user(key.sender_user_id)
        return links[0].token if links else None

    async def _pluto(self, job: JobRow, r: RecipientRow, token: str | None) -> str:
        """Send into Pluto as the sender (refusals keep Pluto's own reason); returns the
        recipient's Pluto status."""
        if r.lms_user_id is None or r.pluto not in ("", "sending"):
            return r.pluto
        if r.pluto == "sending":
            # The process stopped during this send: it may have arrived. Never send twice.
            status, reason = "unknown", "the bridge stopped while sending; check Pluto before sending again"
        elif token is None:
            status, reason = "refused", "the key's sender account has no active link (sign in through the bridge first)"
        else:
            status, reason = await self._send_pluto(job, r.position, r.lms_user_id, token, r.fullname or None)
        await api_jobs.update_recipient(self.store, job.id, r.position, pluto=status, pluto_reason=reason)
        return status

    async def _send_pluto(
        self, job: JobRow, position: int, user_id: int, token: str, name: str | None
    ) -> tuple[str, str]:
        """One private message into Pluto, marked as being sent first; (status, reason), a
        refusal retold with the recipient's ``name`` (Pluto's texts name nobody)."""
        await api_jobs.update_recipient(self.store, job.id, position, pluto="sending")
        status, reason = "delivered", ""
        try:
            await self.api.send_instant_message(
                token, user_id, str(job.request["plain"]), clientmsgid=f"pb-api-{job.id}-{position}"
            )
        except TokenRejected:
            status, reason = "refused", "Pluto rejected the sender's token: the sender must sign in again"
        except LmsError as exc:
            status, reason = "refused", explain_refusal(exc.message, name)
        except LmsUnavailable as exc:
            status = "unknown" if exc.reached else "refused"
            reason = "Pluto did not answer in time; it may have arrived" if exc.reached else "Pluto cannot be reached"
        return status, reason


async def outcomes(store: Store, job: JobRow) -> list[dict[str, Any]]:
    """Per-recipient outcomes as the API shows them."""
    keys = [item_key(job.id, r.position) for r in job.recipients]
    sent = await api_jobs.chat_outcomes(store, keys)
    deliver = job.request["deliver"]
    result = []
    for r in job.recipients:
        entry: dict[str, Any] = {"recipient": r.spec, "user_id": r.lms_user_id, "name": r.fullname}
        if deliver in ("chat", "both"):
            entry["chat"] = chat_outcome(r, sent.get(item_key(job.id, r.position), []))
        if deliver in ("pluto", "both"):
            entry["pluto"] = {"status": _PLUTO.get(r.pluto, r.pluto), "reason": r.pluto_reason}
        result.append(entry)
    return result


_PLUTO = {"": "pending", "sending": "pending"}


def chat_outcome(r: RecipientRow, rows: list[tuple[str, str]]) -> dict[str, str]:
    """What the API says of one recipient's chat notice, from its outbox rows' (status,
    error): delivered once any copy is sent, pending while one is queued, held or being
    sent, refused only when every copy failed for good."""
    if r.chat in ("", "held"):
        return {"status": "pending", "reason": "quiet hours" if r.chat == "held" else ""}
    if r.chat != "queued":
        return {"status": r.chat, "reason": r.chat_reason}
    statuses = {s for s, _ in rows}
    if statuses & {DeliveryStatus.SENT, DeliveryStatus.DIGESTED}:
        return {"status": "delivered", "reason": ""}
    if not rows or statuses & {DeliveryStatus.PENDING, DeliveryStatus.HELD, DeliveryStatus.SENDING}:
        return {"status": "pending", "reason": ""}
    return {"status": "refused", "reason": "; ".join(sorted({e for _, e in rows if e}))}
