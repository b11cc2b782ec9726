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
import datetime as dt
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bridge import notices
from bridge.config import LinkSettings
from bridge.lms.api import LmsApi, SiteInfo
from bridge.lms.client import LmsClient
from bridge.lms.errors import LmsError, LmsUnavailable, LoginFailed
from bridge.lms.intake import BASELINE
from bridge.model import ChatEvent, ChatIdentity, Platform
from bridge.own_signins import record_signin
from bridge.profile import Profiles
from bridge.render import escape
from bridge.router import notice
from bridge.store.records import Link
from bridge.store.store import Store
from bridge.throttle import Limit, SignInThrottle, Throttled

SECURITY_KEYS_PATH = "/user/managetoken.php"  # Pluto's "Security keys" page: reset a token there

log = logging.getLogger(__name__)


class LinkError(Exception):
    """Linking could not complete; the message is meant for the person."""


class SignInThrottled(LinkError):
    """Too many failed sign-ins; ``retry_after`` seconds until the next may be tried."""

    def __init__(self, retry_after: float) -> None:
        minutes = max(1, int(retry_after + 59) // 60)
        super().__init__(
            f"Too many failed sign-ins. For your safety, try again in {minutes} minute{'s' if minutes > 1 else ''}."
        )
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class ImportResult:
    identity: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class ChatAccount:
    """The chat account a link would send someone's Pluto messages to, as the platform
    describes it: shown on the sign-in page and in the "your account was linked" notices."""

    platform: str
    display_name: str = ""
    handle: str = ""
    workspace: str = ""
    workspace_name: str = ""
    picture_url: str = ""

    @classmethod
    def of(cls, event: ChatEvent) -> ChatAccount:
        return cls(
            platform=event.identity.platform.value,
            display_name=event.display_name,
            handle=event.handle,
            workspace=event.identity.workspace,
            workspace_name=event.workspace_name,
            picture_url=event.picture_url if event.picture_url.startswith("https://") else "",
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None, identity: ChatIdentity) -> ChatAccount:
        known = {k: str(v) for k, v in (data or {}).items() if k in cls.__dataclass_fields__}
        return cls(**{"platform": identity.platform.value, "workspace": identity.workspace, **known})

    def to_json(self) -> dict[str, str]:
        return asdict(self)

    def label(self) -> str:
        """``Telegram @sam (Sam Mentee)``: platform, handle, name and workspace where known."""
        parts = [Platform(self.platform).value.title()]
        if self.handle:
            parts.append(f"@{self.handle}")
        if self.display_name:
            parts.append(f"({self.display_name})" if self.handle else self.display_name)
        if self.workspace_name or self.workspace:
            parts.append(f"in {self.workspace_name or self.workspace}")
        return " ".join(parts)


def sign_in_throttle(settings: LinkSettings) -> SignInThrottle:
    """The failed-sign-in limits of ``[link]``."""
    window = float(settings.failure_window)
    return SignInThrottle(
        {
            "username": Limit(settings.max_failures_per_username, window),
            "identity": Limit(settings.max_failures_per_identity, window),
            "address": Limit(settings.max_failures_per_address, window),
        }
    )


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


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
        throttle: SignInThrottle | None = None,
        on_link: Callable[[Link], Awaitable[None]] | None = None,
        on_unlink: Callable[[Link], Awaitable[None]] | None = None,
        profiles: Profiles | None = None,
        before_unlink: Callable[[Link], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.profiles = profiles or Profiles()
        self.client = client
        self.api = api
        self.baseline = baseline
        self.public_url = public_url
        self.code_ttl = code_ttl
        self.wake_dispatcher = wake_dispatcher
        self.bot_links = bot_links
        self.suggest_username = suggest_username
        self.throttle = throttle or SignInThrottle({})
        # Push devices follow links (bridge.lms.devices); failures there never block linking.
        self.on_link = on_link
        self.on_unlink = on_unlink
        # Work that must find the link still there: the linker's rooms pause with the true
        # reason before a poll finds them unreadable and pauses them with another.
        self.before_unlink = before_unlink

    @property
    def security_keys_url(self) -> str:
        """Pluto's page where a person resets (revokes) the token the bridge holds."""
        return self.client.base_url + SECURITY_KEYS_PATH

    @staticmethod
    def new_code() -> str:
        # 128 bits, and only [A-Za-z0-9_-]: fits a Telegram deep-link payload (<= 64 chars).
        return secrets.token_urlsafe(16)

    async def start_from_chat(self, event: ChatEvent) -> str:
        """A one-time sign-in URL bound to the chat identity of ``event`` (and showing its
        account on the sign-in page)."""
        identity = event.identity
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
            account=ChatAccount.of(event).to_json(),
        )
        return f"{self.public_url}/link/{code}"

    async def pending_code(self, code: str) -> dict[str, Any] | None:
        return await self.store.peek_code(code)

    @staticmethod
    def account_of(row: Mapping[str, Any]) -> ChatAccount:
        """The chat account a chat-first code's row is for."""
        identity = ChatIdentity(Platform(row["platform"]), row.get("workspace") or "", row["chat_user_id"])
        return ChatAccount.from_json(row.get("account"), identity)

    async def _sign_in(
        self, code: str | None, username: str, password: str, limits: Mapping[str, str]
    ) -> tuple[str, SiteInfo]:
        """Exchange the password for the person's token, unless ``limits`` (kind -> key:
        username, chat identity, client address) had too many failed sign-ins lately."""
        try:
            self.throttle.check(limits)
        except Throttled as exc:
            raise SignInThrottled(exc.retry_after) from None
        started = time.time()
        try:
            token = await self.client.login(username.strip(), password)
        except LoginFailed as exc:
            self.throttle.failed(limits)
            if code is not None:
                await self.store.code_failed(code)
            raise LinkError(f"Pluto did not accept that sign-in: {exc.message}") from None
        except LmsUnavailable:
            raise LinkError("Pluto cannot be reached right now. Please try again in a minute.") from None
        try:
            info = await self.api.site_info(token)
        except (LmsError, LmsUnavailable) as exc:
            raise LinkError(f"Signed in, but Pluto refused the bridge's first call: {exc}") from None
        await record_signin(self.store, info.userid, started)  # its "New sign in" is not relayed
        return token, info

    async def complete_from_web(
        self, code: str, username: str, password: str, *, confirmed: bool = False, client: str = ""
    ) -> Link:
        """The sign-in form of a chat-first code was submitted (from address ``client``),
        with the box ``confirmed`` that the chat account shown is the person's own."""
        row = await self.store.peek_code(code)
        if row is None or row.get("platform") is None:
            raise LinkError("This sign-in link has expired or was already used. Ask the bot for a new one.")
        if not confirmed:
            raise LinkError("Please confirm that the chat account shown is yours: tick the box.")
        identity = ChatIdentity(Platform(row["platform"]), row["workspace"] or "", row["chat_user_id"])
        limits = {"username": username.strip().lower(), "identity": str(identity), "address": client}
        token, info = await self._sign_in(code, username, password, limits)
        if not await self.store.use_code(code):
            raise LinkError("This sign-in link was already used.")
        origin = f"sign-in page from {client or 'unknown address'}"
        return await self.bind(identity, token, info, origin=origin, account=self.account_of(row))

    async def start_from_web(self, username: str, password: str, *, client: str = "") -> tuple[str, SiteInfo]:
        """Sign in on the web first (from address ``client``); returns a code for the
        person to give the bot."""
        limits = {"username": username.strip().lower(), "address": client}
        token, info = await self._sign_in(None, username, password, limits)
        code = self.new_code()
        await self.store.create_code(
            code,
            self.code_ttl,
            token=token,
            lms_user_id=info.userid,
            lms_username=info.username,
            lms_fullname=info.fullname,
            origin=f"web sign-in from {client or 'unknown address'}, code sent in chat",
        )
        return code, info

    async def burn_code(self, code: str) -> None:
        """Make a code unusable (it was seen by others)."""
        await self.store.use_code(code)

    async def complete_from_chat(self, event: ChatEvent, code: str) -> Link:
        """``link CODE`` (or a Telegram ``/start CODE``) with a code from the web sign-in."""
        row = await self.store.peek_code(code)
        if row is None or not row.get("token"):
            raise LinkError("That code has expired or was already used. Sign in again to get a new one.")
        if not await self.store.use_code(code):
            raise LinkError("That code was already used.")
        info = await self.api.site_info(row["token"])
        origin = str(row.get("origin") or "web sign-in, code sent in chat")
        return await self.bind(event.identity, row["token"], info, origin=origin, account=ChatAccount.of(event))

    async def bind(
        self,
        identity: ChatIdentity,
        token: str,
        info: SiteInfo,
        *,
        origin: str = "",
        account: ChatAccount | None = None,
    ) -> Link:
        """Store the link (token encrypted), start intake from now, confirm in chat, and
        tell the person everywhere else that their Pluto account was linked."""
        room, address = await self.store.contact(identity)
        link = await self.store.save_link(
            identity,
            lms_user_id=info.userid,
            lms_username=info.username,
            lms_fullname=info.fullname,
            token=token,
            room=room,
            address=address,
            origin=origin,
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
        await self._announce(link, account or ChatAccount(identity.platform.value, workspace=identity.workspace))
        self.wake_dispatcher()
        log.info("linked %s to LMS user %s (%s)", identity, info.userid, origin or "no origin given")
        if self.on_link is not None:
            await self.on_link(link)
        return link

    async def _announce(self, link: Link, account: ChatAccount) -> None:
        """"Your Pluto account was linked to ...": through every other active link of the
        person and in their Pluto self-conversation, so a link they did not make is seen."""
        when = _when(link.created_at)
        keys = self.security_keys_url
        others = [other for other in await self.store.links_of_user(link.lms_user_id) if other.id != link.id]
        warnings = []
        for other in others:
            hint = notices.command_usage(self.profiles[other.identity.platform], "unlink all")
            warnings.append(
                notice(
                    other,
                    f"<p>Your Pluto account was linked to {escape(account.label())} at {when}.</p>"
                    f"<p>Not you? Send {hint} here to disconnect every chat from your Pluto "
                    "account, and reset the bridge's key on Pluto's "
                    f'<a href="{escape(keys)}">Security keys</a> page.</p>',
                )
            )
        if warnings:
            await self.store.enqueue(warnings)
        text = (
            f"Pluto Bridge: your Pluto account was linked to {account.label()} at {when}. "
            f"Not you? Send \"unlink all\" in any chat linked to your account, or reset the key on your "
            f"Security keys page ({keys}), and change your password."
        )
        try:
            await self.api.send_instant_message(link.token, link.lms_user_id, text, f"pluto-bridge-link-{link.id}")
        except (LmsError, LmsUnavailable) as exc:
            log.warning("could not tell LMS user %s in Pluto about their new link: %s", link.lms_user_id, exc)

    async def unlink(self, identity: ChatIdentity) -> Link | None:
        """Delete the link and its token."""
        if self.before_unlink is not None and (existing := await self.store.link_for(identity)) is not None:
            await self.before_unlink(existing)
        link = await self.store.delete_link(identity)
        if link is not None:
            log.info("unlinked %s from LMS user %s", identity, link.lms_user_id)
            if self.on_unlink is not None:
                await self.on_unlink(link)
        return link

    async def unlink_all(self, identity: ChatIdentity) -> list[Link]:
        """Delete every link of the Pluto account ``identity`` is linked to (a link the
        person did not make, seen from one they did)."""
        link = await self.store.link_for(identity)
        if link is None:
            return []
        removed = []
        for other in await self.store.links_of_user(link.lms_user_id, active_only=False):
            if (gone := await self.unlink(other.identity)) is not None:
                removed.append(gone)
        return removed

    async def import_file(self, path: Path, *, allow_admin: bool = False) -> list[ImportResult]:
        """Import administrator-issued tokens (single-sign-on sites).

        The file is JSON lines or a JSON list of objects with ``platform``, ``user_id``,
        ``token``, the Pluto user the token is for (``username`` and/or ``lms_user_id``)
        and optionally ``workspace``. Each token is checked with the LMS first: it must
        belong to the stated Pluto user, and not to a site administrator unless
        ``allow_admin`` (posting as an administrator bypasses Pluto's privacy rules).
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
                stated_name = str(row.get("username") or "").strip()
                stated_id = int(row["lms_user_id"]) if row.get("lms_user_id") is not None else None
            except (KeyError, ValueError, TypeError) as exc:
                results.append(ImportResult(f"row {number}", False, f"malformed row: {exc}"))
                continue
            if not stated_name and stated_id is None:
                results.append(
                    ImportResult(str(identity), False, "the row names no Pluto user (give username or lms_user_id)")
                )
                continue
            try:
                info = await self.api.site_info(token)
            except (LmsError, LmsUnavailable) as exc:
                results.append(ImportResult(str(identity), False, f"token refused: {exc}"))
                continue
            if (stated_name and stated_name.lower() != info.username.lower()) or (
                stated_id is not None and stated_id != info.userid
            ):
                stated = " / ".join(str(x) for x in (stated_name, stated_id) if x not in ("", None))
                detail = f"the token belongs to {info.username} (id {info.userid}), not to {stated}"
                results.append(ImportResult(str(identity), False, detail))
                continue
            if info.is_site_admin and not allow_admin:
                detail = f"the token belongs to a site administrator ({info.username}); refused without --allow-admin"
                results.append(ImportResult(str(identity), False, detail))
                continue
            await self.bind(identity, token, info, origin=f"link import from {path.name}")
            results.append(ImportResult(str(identity), True, f"linked to {info.username} (id {info.userid})"))
        return results
