"""Wiring and lifecycle: settings in, a running bridge out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Mapping

from adapters.base import Adapter
from bridge.actions import ItemActions
from bridge.commands import Commands
from bridge.config import Settings
from bridge.hints import command_hint
from bridge.inbound import Inbound
from bridge.linking import Linking
from bridge.lms.api import LmsApi, NotificationApi
from bridge.lms.client import LmsClient
from bridge.lms.intake import MessageIntake
from bridge.lms.notifications import NotificationIntake
from bridge.metrics import Metrics
from bridge.model import ChatIdentity, Platform
from bridge.outbox import Dispatcher
from bridge.pipeline import Pipeline
from bridge.relay import Relay
from bridge.store.records import Link
from bridge.store.store import Store
from bridge.web import WebApp

log = logging.getLogger(__name__)


def build_adapters(settings: Settings) -> dict[Platform, Adapter]:
    """One adapter per enabled platform. SDKs are imported only for enabled platforms."""
    adapters: dict[Platform, Adapter] = {}
    if settings.console.enabled:
        from adapters.console import ConsoleAdapter

        adapters[Platform.CONSOLE] = ConsoleAdapter(
            user_id=settings.console.user_id, display_name=settings.console.display_name
        )
    tg = settings.telegram
    if tg.enabled and tg.token is not None:
        from adapters.telegram import TelegramAdapter

        adapters[Platform.TELEGRAM] = TelegramAdapter(
            token=tg.token.get_secret_value(),
            mode=tg.mode,
            base_url=tg.base_url,
            base_file_url=tg.base_file_url,
            webhook_url=settings.web.public_url + tg.webhook_path if tg.mode == "webhook" else None,
            webhook_path=tg.webhook_path,
            webhook_secret=tg.webhook_secret.get_secret_value() if tg.webhook_secret else None,
        )
    sl = settings.slack
    if sl.enabled:
        from adapters.slack import SlackAdapter

        adapters[Platform.SLACK] = SlackAdapter(
            workspaces={team: tok.get_secret_value() for team, tok in sl.workspaces.items()},
            signing_secret=sl.signing_secret.get_secret_value() if sl.signing_secret else "",
            mode=sl.mode,
            app_token=sl.app_token.get_secret_value() if sl.app_token else None,
            api_base_url=sl.api_base_url,
            events_path=sl.events_path,
            command=sl.command,
        )
    dc = settings.discord
    if dc.enabled and dc.token is not None:
        from adapters.discord import DiscordAdapter

        adapters[Platform.DISCORD] = DiscordAdapter(
            token=dc.token.get_secret_value(),
            application_id=dc.application_id,
            api_base_url=dc.api_base_url,
            gateway_url=dc.gateway_url,
            command_name=dc.command_name,
        )
    tm = settings.teams
    if tm.enabled and tm.app_id is not None and tm.app_password is not None:
        from adapters.teams import TeamsAdapter

        adapters[Platform.TEAMS] = TeamsAdapter(
            app_id=tm.app_id,
            app_password=tm.app_password.get_secret_value(),
            tenant_id=tm.tenant_id,
            token_endpoint=tm.token_endpoint,
            jwks_url=tm.jwks_url,
            issuer=tm.issuer,
            service_url=tm.service_url,
            timeout=tm.timeout,
            messages_path=tm.messages_path,
        )
    return adapters


def build_pipeline(
    settings: Settings,
    store: Store,
    client: LmsClient,
    wake_dispatcher: Callable[[], None] = lambda: None,
    metrics: Metrics | None = None,
) -> Pipeline:
    """The LMS-side core: intake of messages and notifications, and item actions."""
    api = LmsApi(client)
    notification_api = NotificationApi(client)
    pipeline: Pipeline
    actions = ItemActions(
        store,
        api,
        notification_api,
        lambda token: pipeline.site(token),
        settings.lms.task_action_function,
        wake_dispatcher=wake_dispatcher,
    )
    pipeline = Pipeline(
        store,
        api,
        MessageIntake(api, settings.lms.conversations_per_poll),
        NotificationIntake(notification_api),
        actions,
        interval=settings.lms.poll_interval,
        concurrency=settings.lms.poll_concurrency,
        wake_dispatcher=wake_dispatcher,
        link_hint=lambda link: command_hint(link.identity.platform, "link"),
    )
    return pipeline


class Bridge:
    """The whole bridge process: store, LMS client, adapters, loops and web server."""

    def __init__(self, settings: Settings, adapters: Mapping[Platform, Adapter] | None = None) -> None:
        self.settings = settings
        self.adapters: dict[Platform, Adapter] = dict(adapters) if adapters is not None else build_adapters(settings)
        self.metrics = Metrics()
        self.client = LmsClient(
            settings.lms.url,
            service=settings.lms.service,
            timeout=settings.lms.timeout,
            retries=settings.lms.retries,
        )
        self.api = LmsApi(self.client)
        self._tasks: list[asyncio.Task[None]] = []
        self.store: Store | None = None
        self.web: WebApp | None = None
        self.dispatcher: Dispatcher | None = None
        self.pipeline: Pipeline | None = None
        self.linking: Linking | None = None

    def bot_links(self, code: str) -> dict[str, str]:
        """Links that open each platform's bot with a linking code, where platforms have them."""
        links = {}
        for platform, adapter in self.adapters.items():
            url = adapter.bot_link(code)
            if url:
                links[platform.value] = url
        return links

    async def suggest_username(self, identity: ChatIdentity) -> str | None:
        """The Pluto username whose email matches the chat profile's, looked up with the
        operator's ``lms.token`` (none configured: no suggestion)."""
        adapter = self.adapters.get(identity.platform)
        if adapter is None or self.settings.lms.token is None:
            return None
        email = await adapter.profile_email(identity)
        if not email:
            return None
        users = await self.api.users_by_field(self.settings.lms.token.get_secret_value(), "email", [email])
        return str(users[0]["username"]) if len(users) == 1 else None

    async def start(self) -> None:
        """Open the store, start the web server, the adapters and the loops."""
        s = self.settings
        self.store = store = await Store.open(s.store.url, s.store.token_key.get_secret_value())
        self.dispatcher = dispatcher = Dispatcher(
            store, self.adapters, s.outbox, on_unreachable=self._unreachable, metrics=self.metrics
        )
        self.pipeline = pipeline = build_pipeline(
            s, store, self.client, wake_dispatcher=dispatcher.wake, metrics=self.metrics
        )
        self.linking = linking = Linking(
            store,
            self.client,
            self.api,
            pipeline.baseline,
            s.web.public_url,
            s.link.code_ttl,
            wake_dispatcher=dispatcher.wake,
            bot_links=self.bot_links,
            suggest_username=self.suggest_username,
        )
        commands = Commands(store, self.api, linking, pipeline.actions)
        inbound = Inbound(
            store,
            self.adapters,
            commands,
            Relay(store, self.api, after_send=pipeline.read_soon),
            pipeline.actions,
            self.metrics,
        )
        routes = [route for adapter in self.adapters.values() for route in adapter.web_routes()]
        self.web = WebApp(linking, self.metrics, self.health, self.bot_links, routes)
        port = await self.web.start(s.web.host, s.web.port)
        log.info("web server on http://%s:%s (public %s)", s.web.host, port, s.web.public_url)
        for platform, adapter in self.adapters.items():
            await adapter.start(inbound)
            log.info("%s adapter started", platform.value)
        self._tasks = [
            asyncio.create_task(dispatcher.run(), name="dispatcher"),
            asyncio.create_task(self.pipeline.run(), name="intake"),
            asyncio.create_task(self._housekeeping(), name="housekeeping"),
        ]

    async def _unreachable(self, link: Link, reason: str) -> None:
        log.warning("deliveries to %s stopped: %s", link.identity, reason)

    async def _housekeeping(self) -> None:
        assert self.store is not None
        while True:
            await self.store.prune()
            await asyncio.sleep(3600)

    async def health(self) -> dict[str, object]:
        """What ``/healthz`` reports."""
        assert self.store is not None and self.pipeline is not None
        pending = len(await self.store.deliveries(status="pending"))
        lms_up = self.pipeline.lms_down_since is None
        return {
            "ok": True,
            "lms": "up" if lms_up else "unreachable",
            "adapters": sorted(p.value for p in self.adapters),
            "pending_deliveries": pending,
            "poll_cycles": self.pipeline.cycles,
            "polling": self.pipeline.degraded() or "ok",  # why polling is degraded, for a readiness check
        }

    async def stop(self) -> None:
        """Stop everything, in reverse order; safe to call twice."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for adapter in self.adapters.values():
            with contextlib.suppress(Exception):
                await adapter.stop()
        if self.web is not None:
            await self.web.stop()
        await self.client.close()
        if self.store is not None:
            await self.store.close()
            self.store = None

    async def run_until_signalled(self) -> None:
        """Run until SIGINT or SIGTERM."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await self.start()
        try:
            await stop.wait()
        finally:
            log.info("stopping")
            await self.stop()
