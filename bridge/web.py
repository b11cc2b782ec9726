"""One aiohttp application for every inbound HTTP endpoint.

``/link`` and ``/link/{code}`` are the sign-in pages; the adapters add their webhook routes
(Slack events, Telegram webhook, Teams ``/api/messages``), and the bridge adds the operator
endpoints (``bridge.health``) here or on a management server of their own.
"""

from __future__ import annotations

import logging
import math
import socket
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl

from aiohttp import web

from bridge import web_pages
from bridge.linking import LinkError, Linking, SignInThrottled

log = logging.getLogger(__name__)

MAX_FORM_BYTES = 16 * 1024

# The sign-in pages must never be cached, framed or scripted by anyone.
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    # img-src: the chat account's picture (Slack, Discord CDNs) on the sign-in page.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src https:; form-action 'self'",
    "Referrer-Policy": "no-referrer",
}


def _html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, content_type="text/html", status=status, headers=_SECURITY_HEADERS)


async def _form(request: web.Request) -> dict[str, str]:
    """The sign-in form's fields. The body is read up to ``MAX_FORM_BYTES`` whether or not
    it declares its length (chunked bodies too) and must be URL-encoded UTF-8, as a browser
    sends it; anything else is the client's mistake (400, or 413 when too long), never a 500."""
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_FORM_BYTES, actual_size=request.content_length)
    if request.content_type != "application/x-www-form-urlencoded":
        raise web.HTTPBadRequest(text="send the form as application/x-www-form-urlencoded")
    body = bytearray()
    async for chunk in request.content.iter_chunked(4096):
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_FORM_BYTES, actual_size=len(body))
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict", max_num_fields=16)
    except (UnicodeDecodeError, ValueError):
        raise web.HTTPBadRequest(text="the form is not URL-encoded UTF-8") from None
    return dict(pairs)


def _throttled(exc: SignInThrottled) -> web.Response:
    response = _html(web_pages.throttled(str(exc)), 429)
    response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return response


async def listen(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on host:port (0 picks a free port); returns its runner and the port."""
    # Bind the socket ourselves so that port 0 yields a known port.
    sock = socket.create_server((host, port), reuse_port=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return runner, int(sock.getsockname()[1])


class WebApp:
    """Builds the application and serves it."""

    def __init__(
        self,
        linking: Linking,
        bot_links: Callable[[str], dict[str, str]],
        extra_routes: Iterable[web.RouteDef] = (),
        trusted_proxies: Iterable[str] = (),
    ) -> None:
        self.linking = linking
        self.bot_links = bot_links
        self.trusted_proxies = frozenset(trusted_proxies)
        self.app = web.Application(client_max_size=2 * 1024 * 1024)
        self.app.add_routes(
            [
                web.get("/link", self.web_first_form),
                web.post("/link", self.web_first_submit),
                web.get("/link/{code}", self.chat_first_form),
                web.post("/link/{code}", self.chat_first_submit),
                *extra_routes,
            ]
        )
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port (0 picks a free port); returns the port."""
        self._runner, self.port = await listen(self.app, host, port)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def client_address(self, request: web.Request) -> str:
        """The sign-in's client address, for its failure limit: the peer, or behind a
        trusted reverse proxy the nearest address in X-Forwarded-For it did not add itself
        (addresses further left are the client's own claims)."""
        address = request.remote or ""
        if address not in self.trusted_proxies:
            return address
        for hop in reversed(request.headers.get("X-Forwarded-For", "").split(",")):
            hop = hop.strip()
            if hop and hop not in self.trusted_proxies:
                return hop
        return address

    async def chat_first_form(self, request: web.Request) -> web.Response:
        code = request.match_info["code"]
        row = await self.linking.pending_code(code)
        if row is None or row.get("platform") is None:
            return _html(
                web_pages.problem("This sign-in link has expired or was already used. Ask the bot for a new one."),
                404,
            )
        return _html(
            web_pages.sign_in_form(
                f"/link/{code}",
                f"Link a {row['platform'].title()} account to your Pluto account.",
                username=row.get("lms_username") or "",
                account=self.linking.account_of(row),
            )
        )

    async def chat_first_submit(self, request: web.Request) -> web.Response:
        code = request.match_info["code"]
        form = await _form(request)
        username = form.get("username", "")
        try:
            link = await self.linking.complete_from_web(
                code,
                username,
                form.get("password", ""),
                confirmed=form.get("confirm") == "yes",
                client=self.client_address(request),
            )
        except SignInThrottled as exc:
            return _throttled(exc)
        except LinkError as exc:
            row = await self.linking.pending_code(code)
            if row is None or row.get("platform") is None:
                return _html(web_pages.problem(str(exc)), 400)
            return _html(
                web_pages.sign_in_form(
                    f"/link/{code}",
                    f"Link a {row['platform'].title()} account to your Pluto account.",
                    str(exc),
                    username,
                    account=self.linking.account_of(row),
                ),
                400,
            )
        return _html(web_pages.linked(link.lms_fullname))

    async def web_first_form(self, request: web.Request) -> web.Response:
        return _html(web_pages.sign_in_form("/link", "Sign in to connect a chat app to your Pluto account."))

    async def web_first_submit(self, request: web.Request) -> web.Response:
        form = await _form(request)
        username = form.get("username", "")
        try:
            code, info = await self.linking.start_from_web(
                username, form.get("password", ""), client=self.client_address(request)
            )
        except SignInThrottled as exc:
            return _throttled(exc)
        except LinkError as exc:
            return _html(web_pages.sign_in_form("/link", "Sign in to connect a chat app.", str(exc), username), 400)
        return _html(web_pages.web_code(info.fullname, code, self.bot_links(code)))
