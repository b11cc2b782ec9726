"""Async client for Moodle web services over REST (``webservice/rest/server.php``).

Every call carries the token of the person the bridge acts for; the client itself holds
no identity. Transport errors and 5xx answers are retried with exponential back-off and
jitter (tenacity); LMS error bodies, which Moodle sends with HTTP 200, are never retried
and surface as the typed exceptions of ``bridge.lms.errors``. Every request, retries and
sign-ins included, passes one rate limiter (``lms.max_requests_per_second``, aiolimiter), so
the whole bridge never asks more of the site than the operator allows; the client also keeps
the LMS's recent latency, from which the pipeline sizes how many people it reads at once.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aiohttp
from aiolimiter import AsyncLimiter
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from bridge.lms.errors import (
    AccessException,
    FunctionUnavailable,
    LmsError,
    LmsUnavailable,
    LoginFailed,
    error_from_body,
)
from bridge.render.safe_html import replace_surrogates

log = logging.getLogger(__name__)

# A JSON escape of a surrogate; only then can the decoded result hold a lone one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")

REST_PATH = "/webservice/rest/server.php"
TOKEN_PATH = "/login/token.php"
SITE_INFO = "core_webservice_get_site_info"
# Weight of the newest request in the latency average: a few dozen requests make the figure.
LATENCY_WEIGHT = 0.05


def encode_params(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Flatten nested arguments into PHP bracket names: ``messages[0][text]=hi``.

    Booleans become ``1``/``0``; ``None`` values are left out (Moodle applies defaults).
    """
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        pairs.extend(_encode_value(name, value))
    return pairs


def _encode_value(name: str, value: Any) -> list[tuple[str, str]]:
    if value is None:
        return []
    if isinstance(value, bool):
        return [(name, "1" if value else "0")]
    if isinstance(value, Mapping):
        return encode_params(value, name)
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        pairs: list[tuple[str, str]] = []
        for index, item in enumerate(value):
            pairs.extend(_encode_value(f"{name}[{index}]", item))
        return pairs
    return [(name, str(value))]


def decode_json(body: bytes) -> Any:
    """The LMS's JSON answer as Python values, every string valid Unicode: bytes that are
    not UTF-8 and lone surrogates (``"\\ud850"``, a valid JSON escape a broken LMS or proxy
    can send) become U+FFFD here, once, so nothing downstream meets text it cannot encode.
    Raises ValueError when the body is not JSON."""
    text = body.decode("utf-8-sig", "replace")  # a byte-order mark is not part of the JSON
    result = json.loads(text)
    return _scrub(result) if _SURROGATE_ESCAPE.search(text) else result


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return replace_surrogates(value)
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    return value


# (function, outcome "ok" / "error" / "unreachable", seconds): the metrics' hook.
CallObserver = Callable[[str, str, float], None]


class _Transient(Exception):
    """A failure worth another try: connection error, time-out, 5xx. ``reached`` says the
    request may have reached the LMS (a time-out or a 5xx, not a refused connection)."""

    def __init__(self, what: str, *, reached: bool = True) -> None:
        super().__init__(what)
        self.reached = reached


class LmsClient:
    """One shared HTTP session to one LMS site."""

    def __init__(
        self,
        base_url: str,
        *,
        service: str = "moodle_mobile_app",
        timeout: float = 10.0,
        retries: int = 3,
        backoff_max: float = 8.0,
        observer: CallObserver | None = None,
        max_requests_per_second: float | None = None,
    ) -> None:
        """``max_requests_per_second``: the budget every request waits for (None: no limit)."""
        self.base_url = base_url.rstrip("/")
        # time_period 1 s: a burst is at most one second's budget, never more.
        self._limiter = AsyncLimiter(max_requests_per_second, 1.0) if max_requests_per_second else None
        self.max_requests_per_second = max_requests_per_second
        self.latency = 0.0  # seconds, a moving average of answered requests
        self.in_flight = 0
        self._observer = observer
        self.service = service
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._retries = retries
        self._backoff_max = backoff_max
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> LmsClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, path: str, form: list[tuple[str, str]], what: str, *, resend: bool = True) -> Any:
        url = self.base_url + path
        retry = retry_if_exception(lambda exc: isinstance(exc, _Transient) and (resend or not exc.reached))
        try:
            async for attempt in AsyncRetrying(
                retry=retry,
                stop=stop_after_attempt(self._retries + 1),
                wait=wait_exponential_jitter(multiplier=0.2, max=self._backoff_max),
                reraise=True,
            ):
                with attempt:
                    return await self._post_once(url, form, what)
        except _Transient as exc:
            raise LmsUnavailable(f"{self.base_url} unreachable for {what}: {exc}", reached=exc.reached) from None
        raise AssertionError("unreachable")  # pragma: no cover - AsyncRetrying either returns or raises

    async def _post_once(self, url: str, form: list[tuple[str, str]], what: str) -> Any:
        if self._limiter is not None:
            await self._limiter.acquire()
        self.in_flight += 1
        started = time.monotonic()
        try:
            return await self._exchange(url, form, what)
        finally:
            self.in_flight -= 1
            took = time.monotonic() - started
            self.latency = took if not self.latency else self.latency + LATENCY_WEIGHT * (took - self.latency)

    async def _exchange(self, url: str, form: list[tuple[str, str]], what: str) -> Any:
        try:
            async with self._http().post(url, data=form) as resp:
                if resp.status >= 500:
                    # 503: the site or its proxy turned the request away (down, maintenance).
                    raise _Transient(f"HTTP {resp.status}", reached=resp.status != 503)
                if resp.status != 200:
                    raise LmsUnavailable(f"{what}: unexpected HTTP {resp.status} from {url}")
                try:
                    return decode_json(await resp.read())
                except ValueError:
                    raise LmsUnavailable(f"{what}: the LMS answered something that is not JSON") from None
        except (TimeoutError, aiohttp.ClientConnectionError, aiohttp.ServerTimeoutError) as exc:
            # A refused connection carried nothing; anything later may have been acted on.
            reached = not isinstance(exc, aiohttp.ClientConnectorError)
            raise _Transient(type(exc).__name__ + (f": {exc}" if str(exc) else ""), reached=reached) from exc

    async def call(self, token: str, function: str, /, **params: Any) -> Any:
        """Call one web-service function as the token's user and return its decoded result."""
        return await self._call(token, function, params, resend=True)

    async def call_once(self, token: str, function: str, /, **params: Any) -> Any:
        """Like ``call``, for a function whose effect must not happen twice (a send, a task
        decision): retried only when the request cannot have reached the LMS."""
        return await self._call(token, function, params, resend=False)

    async def _call(self, token: str, function: str, params: dict[str, Any], *, resend: bool) -> Any:
        form = [("wstoken", token), ("wsfunction", function), ("moodlewsrestformat", "json")]
        form.extend(encode_params(params))
        started = time.monotonic()
        try:
            result = await self._post(REST_PATH, form, function, resend=resend)
        except LmsUnavailable:
            self._observe(function, "unreachable", started)
            raise
        failed = isinstance(result, dict) and "exception" in result and "errorcode" in result
        self._observe(function, "error" if failed else "ok", started)
        if failed:
            error = error_from_body(result, function)
            if isinstance(error, AccessException) and function != SITE_INFO and await self._token_works(token):
                # Moodle answers the same for a dead token and a function missing from its
                # service; only the second leaves site info callable.
                raise FunctionUnavailable(
                    error.errorcode,
                    f"this Pluto site's web service does not offer {function}; "
                    "the site administrator can add it to the service",
                    error.exception,
                    function,
                )
            raise error
        return result

    def _observe(self, function: str, outcome: str, started: float) -> None:
        if self._observer is not None:
            self._observer(function, outcome, time.monotonic() - started)

    async def _token_works(self, token: str) -> bool:
        """Whether the token can still call site info (which every service includes)."""
        try:
            await self._call(token, SITE_INFO, {}, resend=True)
        except LmsError:
            return False
        return True

    async def login(self, username: str, password: str) -> str:
        """Exchange a username and password for the person's own token at ``login/token.php``."""
        form = [("username", username), ("password", password), ("service", self.service)]
        result = await self._post(TOKEN_PATH, form, "login/token.php")
        if isinstance(result, dict) and result.get("token"):
            return str(result["token"])
        if isinstance(result, dict):
            raise LoginFailed(
                str(result.get("errorcode") or "invalidlogin"), str(result.get("error") or "sign-in failed")
            )
        raise LoginFailed("invalidresponse", "the LMS answered the sign-in with something unexpected")
