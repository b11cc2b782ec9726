"""The Send Message API over HTTP: ``POST /api/v1/messages``, ``GET /api/v1/messages/{job}``
and ``GET /api/v1/openapi.json``, on the bridge's one web server."""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from bridge.api.keys import bearer, hash_key
from bridge.api.openapi import document
from bridge.api.ratelimit import KeyLimits
from bridge.api.request import RequestError, parse_request, request_hash
from bridge.api.runner import ApiRunner, outcomes
from bridge.store import api_jobs
from bridge.store.api_jobs import ApiKey, IdempotencyConflict
from bridge.store.store import Store

MAX_BODY = 1024 * 1024
MAX_IDEMPOTENCY_KEY = 255
BASE = "/api/v1"


def _error(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status, headers=headers)


class ApiRoutes:
    """Request handling; the work itself happens in the ``ApiRunner``."""

    def __init__(self, store: Store, runner: ApiRunner, limits: KeyLimits | None = None) -> None:
        self.store = store
        self.runner = runner
        self.limits = limits or KeyLimits()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(f"{BASE}/messages", self.send),
            web.get(f"{BASE}/messages/{{job}}", self.status),
            web.get(f"{BASE}/openapi.json", self.openapi),
        ]

    async def _key(self, request: web.Request, *, limited: bool) -> ApiKey | web.Response:
        """The caller's key, or the 401 answer (or 429 when ``limited`` and over its rate:
        sends are limited, status reads are not, so polling a job never locks sending out)."""
        given = bearer(request.headers.get("Authorization"))
        key = await api_jobs.live_key(self.store, hash_key(given)) if given else None
        if key is None:
            return _error(
                401,
                "a valid API key is required: Authorization: Bearer KEY (pluto-bridge apikey create)",
                {"WWW-Authenticate": 'Bearer realm="pluto-bridge"'},
            )
        wait = self.limits.take(key.id, key.rate_per_minute) if limited else 0
        if wait:
            return _error(
                429,
                f"rate limit of {key.rate_per_minute} requests a minute reached; retry after {wait} s",
                {"Retry-After": str(wait)},
            )
        return key

    async def send(self, request: web.Request) -> web.Response:
        key = await self._key(request, limited=True)
        if isinstance(key, web.Response):
            return key
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _error(413, f"the body may have at most {MAX_BODY} bytes")
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError) as exc:
            return _error(400, f"the body is not valid JSON: {exc}")
        try:
            send = parse_request(body)
        except RequestError as exc:
            return _error(422, "the request is not valid", problems=exc.problems)
        missing = sorted(send.scopes - set(key.scopes))
        if missing:
            scopes = ", ".join(key.scopes)
            return _error(403, f"this key may not deliver to {', '.join(missing)} (its scopes: {scopes})")
        idempotency = request.headers.get("Idempotency-Key")
        if idempotency is not None and not 0 < len(idempotency) <= MAX_IDEMPOTENCY_KEY:
            return _error(400, f"Idempotency-Key: 1 to {MAX_IDEMPOTENCY_KEY} characters")
        try:
            job_id, created = await api_jobs.create_job(
                self.store,
                uuid.uuid4().hex,
                key.id,
                idempotency,
                request_hash(body),
                send.stored(),
                send.recipients,
            )
        except IdempotencyConflict as exc:
            return _error(409, str(exc))
        if created:
            self.runner.submit(job_id)
            await api_jobs.touch_key(self.store, key.id)
        location = f"{BASE}/messages/{job_id}"
        headers = {"Location": location}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        return web.json_response({"job": job_id, "status_url": location}, status=202, headers=headers)

    async def status(self, request: web.Request) -> web.Response:
        key = await self._key(request, limited=False)
        if isinstance(key, web.Response):
            return key
        job = await api_jobs.job(self.store, request.match_info["job"])
        if job is None or job.key_id != key.id:  # another key's job is nobody's business here
            return _error(404, "no such job for this key")
        return web.json_response(
            {
                "job": job.id,
                "status": job.status,
                "deliver": job.request["deliver"],
                "created_at": job.created_at,
                "finished_at": job.finished_at,
                "recipients": await outcomes(self.store, job),
            }
        )

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(document())
