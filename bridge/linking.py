"""Linking a chat identity to a Pluto account, with proof that the person is that account.

Two ways in, both ending in the person's own LMS token, stored encrypted:

* chat first: ``link`` in chat creates a one-time code bound to the chat identity and
  answers with a URL of the bridge's sign-in page; the person signs in there.
* web first: the person signs in on ``/link`` and gets a code (and a Telegram deep link)
  to give the bot: ``link CODE`` or ``/start CODE``.

The password goes to ``login/token.php`` and nowhere else: never stored, never logged.
Single-sign-on sites, where token.php cannot take a password, import administrator-issued
tokens with ``pluto-bridge link import``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.lms.api import LmsApi, SiteInfo
from bridge.lms.client import LmsClient
from bridge.lms.errors import LmsError, LmsUnavailable, LoginFailed
from bridge.lms.intake import BASELINE
from bridge.model import ChatIdentity, Platform
from bridge.render import escape
from bridge.router import notice
from bridge.store.records import Link
from bridge.store.store import Store

log = logging.getLogger(__name__)


class LinkError(Exception):
    """Linking could not complete; the message is meant for the person."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    identity: str
    ok: bool
    detail: str


class Linking:
    """Codes, sign-in, import and unlink."""

    def __init__(
        self,
        store: Store,
        client: LmsClient,
        api: LmsApi,
        baseline: Callable[[str, int], Awaitable[None]],
        public_url: str,
        code_ttl: int,
        wake_dispatcher: Callable[[], None] = lambda: None,
        bot_links: Callable[[str], dict[str, str]] = lambda code: {},
        suggest_username: Callable[[ChatIdentity], Awaitable[str | None]] | None = None,
        on_link: Callable[[Link], Awaitable[None]] | None = None,
        on_unlink: Callable[[Link], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.api = api
        self.baseline = baseline
        self.public_url = public_url
        self.code_ttl = code_ttl
        self.wake_dispatcher = wake_dispatcher
        self.bot_links = bot_links
        self.suggest_username = suggest_username
        # Push devices follow links (bridge.lms.devices); failures there never block linking.
        self.on_link = on_link
        self.on_unlink = on_unlink

    @staticmethod
    def new_code() -> str:
        # 128 bits, and only [A-Za-z0-9_-]: fits a Telegram deep-link payload (<= 64 chars).
        return secrets.token_urlsafe(16)

    async def start_from_chat(self, identity: ChatIdentity) -> str:
        """A one-time sign-in URL bound to this chat identity."""
        code = self.new_code()
        suggested = None
        if self.suggest_username is not None:
            try:
                suggested = await self.suggest_username(identity)
            except Exception as exc:  # a suggestion must never stand in the way of linking
                log.info("no Pluto username suggestion for %s: %s", identity, exc)
        await self.store.create_code(
            code,
            self.code_ttl,
            platform=identity.platform.value,
            workspace=identity.workspace,
            chat_user_id=identity.user_id,
            lms_username=suggested,  # chat-first codes: only pre-fills the sign-in form
        )
        return f"{self.public_url}/link/{code}"

    async def pending_code(self, code: str) -> dict[str, Any] | None:
        return await self.store.peek_code(code)

    async def _sign_in(self, code: str | None, username: str, password: str) -> tuple[str, SiteInfo]:
        try:
            token = await self.client.login(username.strip(), password)
        except LoginFailed as exc:
            if code is not None:
                await self.store.code_failed(code)
            raise LinkError(f"Pluto did not accept that sign-in: {exc.message}") from None
        except LmsUnavailable:
            raise LinkError("Pluto cannot be reached right now. Please try again in a minute.") from None
        try:
            info = await self.api.site_info(token)
        except (LmsError, LmsUnavailable) as exc:
            raise LinkError(f"Signed in, but Pluto refused the bridge's first call: {exc}") from None
        return token, info

    async def complete_from_web(self, code: str, username: str, password: str) -> Link:
        """The sign-in form of a chat-first code was submitted."""
        row = await self.store.peek_code(code)
        if row is None or row.get("platform") is None:
            raise LinkError("This sign-in link has expired or was already used. Ask the bot for a new one.")
        token, info = await self._sign_in(code, username, password)
        if not await self.store.use_code(code):
            raise LinkError("This sign-in link was already used.")
        identity = ChatIdentity(Platform(row["platform"]), row["workspace"] or "", row["chat_user_id"])
        return await self.bind(identity, token, info)

    async def start_from_web(self, username: str, password: str) -> tuple[str, SiteInfo]:
        """Sign in on the web first; returns a code for the person to give the bot."""
        token, info = await self._sign_in(None, username, password)
        code = self.new_code()
        await self.store.create_code(
            code,
            self.code_ttl,
            token=token,
            lms_user_id=info.userid,
            lms_username=info.username,
            lms_fullname=info.fullname,
        )
        return code, info

    async def complete_from_chat(self, identity: ChatIdentity, code: str) -> Link:
        """``link CODE`` (or a Telegram ``/start CODE``) with a code from the web sign-in."""
        row = await self.store.peek_code(code)
        if row is None or not row.get("token"):
            raise LinkError("That code has expired or was already used. Sign in again to get a new one.")
        if not await self.store.use_code(code):
            raise LinkError("That code was already used.")
        info = await self.api.site_info(row["token"])
        return await self.bind(identity, row["token"], info)

    async def bind(self, identity: ChatIdentity, token: str, info: SiteInfo) -> Link:
        """Store the link (token encrypted), start intake from now, and confirm in chat."""
        room, address = await self.store.contact(identity)
        link = await self.store.save_link(
            identity,
            lms_user_id=info.userid,
            lms_username=info.username,
            lms_fullname=info.fullname,
            token=token,
            room=room,
            address=address,
        )
        if BASELINE not in await self.store.cursors_of(info.userid):
            try:
                await self.baseline(token, info.userid)
            except (LmsError, LmsUnavailable) as exc:
                log.warning("baseline for LMS user %s not taken now (%s); the first poll takes it", info.userid, exc)
        await self.store.enqueue(
            [
                notice(
                    link,
                    f"<p>Linked to Pluto as <b>{escape(info.fullname)}</b> ({escape(info.username)}).</p>"
                    "<p>Your Pluto messages now arrive here. Reply to one to answer it.</p>",
                )
            ]
        )
        self.wake_dispatcher()
        log.info("linked %s to LMS user %s", identity, info.userid)
        if self.on_link is not None:
            await self.on_link(link)
        return link

    async def unlink(self, identity: ChatIdentity) -> Link | None:
        """Delete the link and its token."""
        link = await self.store.delete_link(identity)
        if link is not None:
            log.info("unlinked %s from LMS user %s", identity, link.lms_user_id)
            if self.on_unlink is not None:
                await self.on_unlink(link)
        return link

    async def import_file(self, path: Path) -> list[ImportResult]:
        """Import administrator-issued tokens (single-sign-on sites).

        The file is JSON lines or a JSON list of objects with ``platform``, ``user_id``,
        ``token`` and optionally ``workspace``. Each token is checked against the LMS first.
        """
        text = (await asyncio.to_thread(path.read_text, encoding="utf-8")).strip()
        rows: list[Any]
        if text.startswith("["):
            rows = json.loads(text)
        else:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        results = []
        for number, row in enumerate(rows, 1):
            try:
                identity = ChatIdentity(Platform(row["platform"]), str(row.get("workspace") or ""), str(row["user_id"]))
                token = str(row["token"])
            except (KeyError, ValueError, TypeError) as exc:
                results.append(ImportResult(f"row {number}", False, f"malformed row: {exc}"))
                continue
            try:
                info = await self.api.site_info(token)
            except (LmsError, LmsUnavailable) as exc:
                results.append(ImportResult(str(identity), False, f"token refused: {exc}"))
                continue
            await self.bind(identity, token, info)
            results.append(ImportResult(str(identity), True, f"linked to {info.username} (id {info.userid})"))
        return results
