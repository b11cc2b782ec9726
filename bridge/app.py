"""Wiring and lifecycle: settings in, a running bridge out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from bridge.actions import ItemActions
from bridge.adapter_registry import build_adapters
from bridge.api.routes import ApiRoutes
from bridge.api.runner import ApiRunner
from bridge.bulk.command import BulkCommand
from bridge.bulk.progress import Progress
from bridge.bulk.runner import BulkRunner
from bridge.config import Settings
from bridge.fallback import fall_back
from bridge.health import Health, beat, operator_routes
from bridge.inbound import Inbound
from bridge.inbound.commands import Commands
from bridge.inbound.people import People
from bridge.inbound.relay import Relay
from bridge.inbound.runner import Runner
from bridge.intake_share import IntakeShare
from bridge.leases import Leases, SoleLeases, replica_id
from bridge.linking import Linking, sign_in_throttle
from bridge.lms.api import LmsApi, NotificationApi
from bridge.lms.client import LmsClient
from bridge.lms.devices import DeviceRegistry
from bridge.lms.intake import MessageIntake
from bridge.lms.notifications import NotificationIntake
from bridge.lms.push import PushMonitor, PushReceiver, PushWakeups
from bridge.metrics import Metrics
from bridge.model import ChatIdentity, Platform
from bridge.outbox import Dispatcher
from bridge.pipeline import Pipeline
from bridge.poll_reads import PollSchedule
from bridge.ports import Adapter
from bridge.profile import Profiles
from bridge.resume import Resumer
from bridge.rooms.command import RoomCommand
from bridge.rooms.inbound import RoomInbound
from bridge.rooms.intake import RoomIntake
from bridge.rooms.lanes import RoomLanes
from bridge.rooms.lifecycle import Lifecycle
from bridge.rooms.pipeline import RoomsPipeline
from bridge.rooms.tell import Teller
from bridge.singletons import Singletons, singleton_platforms
from bridge.starts import AdapterStarts
from bridge.store.lock import StoreLock
from bridge.store.records import Link
from bridge.store.store import Store
from bridge.web import WebApp, listen

log = logging.getLogger(__name__)


def build_pipeline(
    settings: Settings,
    store: Store,
    client: LmsClient,
    wake_dispatcher: Callable[[], None] = lambda: None,
    metrics: Metrics | None = None,
    schedule: PollSchedule | None = None,
    on_dead_token: Callable[[list[Link]], Awaitable[None]] | None = None,
    profiles: Profiles | None = None,
    rooms: RoomIntake | None = None,
    share: IntakeShare | None = None,
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
        profiles=profiles,
    )
    # With group rooms, each cycle reads the linked groups once first (bridge.rooms.pipeline).
    extra: dict[str, Any] = {} if rooms is None else {"rooms": rooms}
    pipeline = (Pipeline if rooms is None else RoomsPipeline)(
        store,
        api,
        MessageIntake(api, settings.lms.conversations_per_poll, early=share is None),
        NotificationIntake(notification_api),
        actions,
        interval=settings.lms.poll_interval,
        idle_interval=settings.lms.idle_interval,
        concurrency=settings.lms.poll_concurrency,
        max_in_flight=settings.lms.max_in_flight,
        wake_dispatcher=wake_dispatcher,
        profiles=profiles,
        metrics=metrics,
        schedule=schedule,
        on_dead_token=on_dead_token,
        share=share,
        **extra,
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
            observer=self.metrics.observe_lms_call,
            max_requests_per_second=settings.lms.max_requests_per_second,
        )
        self.api = LmsApi(self.client)
        self._tasks: list[asyncio.Task[None]] = []
        self.store: Store | None = None
        self.web: WebApp | None = None
        self.dispatcher: Dispatcher | None = None
        self.pipeline: Pipeline | None = None
        self.linking: Linking | None = None
        self._lock: StoreLock | None = None
        self.health: Health | None = None
        self._management: web.AppRunner | None = None
        self.devices: DeviceRegistry | None = None
        self.push: PushMonitor | None = None
        self.wakeups: PushWakeups | None = None
        self.runner: Runner | None = None
        self.starts: AdapterStarts | None = None
        self.lifecycle: Lifecycle | None = None
        self.leases: Leases | None = None
        self.singletons: Singletons | None = None
        self.lost: str | None = None  # a singleton lost to another replica: the process stops
        self._stop = asyncio.Event()
        self._singleton_tasks: list[asyncio.Task[None]] = []  # loops run while elected (liveness)

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
        # Before anything else: a second process on one SQLite file would double every send.
        self._lock = StoreLock.for_url(s.store.url)
        if self._lock is not None:
            self._lock.acquire()
        profiles = Profiles.of(self.adapters)
        self.store = store = await Store.open(s.store.url, s.store.token_key.get_secret_value())
        room_intake = RoomIntake(
            store, self.api, s.rooms.backlog_limit, retry_initial=s.rooms.retry_initial, retry_max=s.rooms.retry_max
        )
        self.lifecycle = lifecycle = Lifecycle(store, room_intake)
        store.replica_id = replica_id()
        # One process on a SQLite file (the lock above) holds every lease; on a server
        # database the replicas share the work under leases (README "Scaling out").
        lease_type = SoleLeases if self._lock is not None or store.engine.dialect.name == "sqlite" else Leases
        self.leases = leases = lease_type(store, store.replica_id, s.replicas.lease_seconds)
        if not leases.sole:
            await store.beat_replica(leases.holder, time.time())  # counted among the replicas from now
            log.info("replica %s (leases of %gs)", leases.holder, leases.seconds)
        self.dispatcher = dispatcher = Dispatcher(
            store,
            self.adapters,
            s.outbox,
            on_unreachable=self._unreachable,
            metrics=self.metrics,
            lms_url=s.lms.url,
            rooms=RoomLanes(store, self.adapters, s.outbox, lifecycle.pause),
            leases=leases,
        )
        if s.push.enabled:
            self.devices = DeviceRegistry(store, self.client, s.push.mobile_app_name)
            await self.devices.load()
            self.push = PushMonitor(s.push, self.devices)
        self.pipeline = pipeline = build_pipeline(
            s,
            store,
            self.client,
            wake_dispatcher=dispatcher.wake,
            metrics=self.metrics,
            schedule=self.push,
            on_dead_token=self._dead_token if self.devices else None,
            profiles=profiles,
            rooms=room_intake,
            share=None if leases.sole else IntakeShare(leases),
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
            throttle=sign_in_throttle(s.link),
            on_link=self._linked if self.devices else None,
            on_unlink=self._unlinked,
            before_unlink=self._unlinking,
            profiles=profiles,
        )
        progress = Progress(
            store, {p: a.capabilities.edits for p, a in self.adapters.items()}, dispatcher.wake, profiles
        )
        bulk_runner = BulkRunner(store, self.client, s.bulk, progress)
        bulk = BulkCommand(store, self.client, bulk_runner, profiles)
        rooms = RoomCommand(store, self.api, self.adapters, profiles)
        relay = Relay(store, self.api, after_send=pipeline.read_soon, profiles=profiles)
        people = People(store, self.api, relay, profiles)
        commands = Commands(store, self.api, linking, pipeline.actions, profiles, bulk, rooms=rooms, people=people)
        answers = dispatcher.answers()
        room_inbound = RoomInbound(store, self.api, Teller(store, self.adapters, answers), lifecycle, profiles)
        inbound = Inbound(
            store,
            self.adapters,
            commands,
            relay,
            pipeline.actions,
            self.metrics,
            answers=answers,
            rooms=room_inbound,
        )
        self.runner = runner = Runner(inbound, inbound.record, discard=inbound.discard, answers=inbound.answers)
        alone = singleton_platforms(s) & set(self.adapters)
        self.starts = starts = AdapterStarts(self.adapters, runner, standby=alone)
        self.health = health = Health(
            store,
            self.client,
            self.adapters,
            lambda: self._tasks + self._singleton_tasks,
            self.metrics,
            self._pipeline_state,
            s.lms.token.get_secret_value() if s.lms.token else None,
            starts,
        )
        # Read before any adapter starts: redeliveries of these are then repeats. With
        # replicas, the elected one takes those of dead replicas (the "resume" singleton).
        unfinished = await store.claim_unfinished([store.replica_id]) if leases.sole else []
        routes = [route for adapter in self.adapters.values() for route in adapter.web_routes()]
        operator_token = s.lms.token.get_secret_value() if s.lms.token else None
        api_runner = ApiRunner(store, self.api, operator_token, wake_dispatcher=dispatcher.wake)
        routes += ApiRoutes(store, api_runner).routes()
        management = s.web.management
        if management is None:
            routes += operator_routes(health)
        if self.devices is not None and self.push is not None:
            self.wakeups = PushWakeups(pipeline.read_soon, pipeline.read_now, self.push)
            routes += PushReceiver(s.push, self.devices, self.push, self.wakeups.wake, self.metrics).routes()
        self.web = WebApp(linking, self.bot_links, routes, trusted_proxies=s.web.trusted_proxies)
        port = await self.web.start(s.web.host, s.web.port)
        log.info("web server on http://%s:%s (public %s)", s.web.host, port, s.web.public_url)
        if management is not None:
            app = web.Application()
            app.add_routes(operator_routes(health))
            self._management, mport = await listen(app, *management)
            log.info("health and metrics on http://%s:%s", management[0], mport)
        resumer = Resumer(store, inbound, relay, wake_dispatcher=dispatcher.wake, runner=runner)
        if unfinished:
            log.info("resuming %d chat events the previous process had not finished", len(unfinished))
            # Before the adapters start: first in each person's turn (the runner tracks them).
            resumer.queue(unfinished)
        await starts.start()  # one platform down does not keep the others from running
        self.singletons = singletons = Singletons(leases, on_lost=self._singleton_lost)
        for platform in alone:
            singletons.add(platform.value, self._adapter_elected(platform), self._adapter_lost(platform))
            dispatcher.standby(platform)  # its lanes go with its connection (adapters start whole)
        pipeline.releases_digests = leases.sole
        singletons.add("digest", self._flag(pipeline, True), self._flag(pipeline, False))
        singletons.add("api-jobs", *self._task_of(api_runner.run, "api jobs"))
        singletons.add("bulk-jobs", *self._task_of(bulk_runner.run, "bulk jobs"))
        if not leases.sole:
            every = leases.seconds / 3
            singletons.add("resume", *self._task_of(lambda: resumer.watch(leases.live, every), "resume"))
        await singletons.elect()  # on SQLite every one starts here, as before
        self._tasks = [
            asyncio.create_task(dispatcher.run(), name="dispatcher"),
            asyncio.create_task(self.pipeline.run(), name="intake"),
            asyncio.create_task(self._housekeeping(), name="housekeeping"),
            asyncio.create_task(beat(health), name="heartbeat"),
        ]
        if not leases.sole:
            self._tasks.append(asyncio.create_task(leases.run(), name="leases"))
            self._tasks.append(asyncio.create_task(singletons.run(), name="singletons"))
        if self.devices is not None:
            self._tasks.append(asyncio.create_task(self._devices_at_start(), name="push-devices"))

    def _adapter_elected(self, platform: Platform) -> Callable[[], Awaitable[None]]:
        """Start a singleton platform's connection here, and send its lanes from here."""

        async def start() -> None:
            assert self.starts is not None and self.dispatcher is not None
            await self.starts.start_one(platform)
            self.dispatcher.standby(platform, False)

        return start

    def _adapter_lost(self, platform: Platform) -> Callable[[], Awaitable[None]]:
        async def stop() -> None:
            assert self.dispatcher is not None
            self.dispatcher.standby(platform)
            with contextlib.suppress(Exception):
                await self.adapters[platform].stop()

        return stop

    @staticmethod
    def _flag(pipeline: Pipeline, on: bool) -> Callable[[], Awaitable[None]]:
        async def flip() -> None:
            pipeline.releases_digests = on

        return flip

    def _task_of(
        self, work: Callable[[], Awaitable[None]], name: str
    ) -> tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]:
        """(start, stop) of a singleton that is a task running ``work``."""
        running: list[asyncio.Task[None]] = []

        async def start() -> None:
            running.append(asyncio.create_task(work(), name=name))  # type: ignore[arg-type]
            self._singleton_tasks.extend(running)

        async def stop() -> None:
            for task in running:
                task.cancel()
                if task in self._singleton_tasks:
                    self._singleton_tasks.remove(task)
            await asyncio.gather(*running, return_exceptions=True)
            running.clear()

        return start, stop

    def _singleton_lost(self, name: str) -> None:
        """Another replica has the singleton now: this process stops (a supervisor starts
        it again, as a standby), as its connection may already be held there."""
        self.lost = name
        self._stop.set()

    async def _devices_at_start(self) -> None:
        """Existing links get their push device (none twice: see DeviceRegistry.ensure)."""
        assert self.devices is not None and self.store is not None
        added = await self.devices.ensure_all(await self.store.active_links())
        log.info("push devices: %d registered at start", added)

    async def _linked(self, link: Link) -> None:
        assert self.devices is not None
        try:
            await self.devices.ensure(link)
        except Exception:  # a device is an optimisation: linking works without one
            log.exception("push device for link %s not registered; that person is polled", link.id)

    async def _unlinking(self, link: Link) -> None:
        assert self.store is not None
        if self.lifecycle is not None:
            linked = [r for r in await self.store.room_links() if r.linker == link.identity]
            await self.lifecycle.linker_unlinked(linked)

    async def _unlinked(self, link: Link) -> None:
        assert self.store is not None
        if self.devices is None:
            return
        others = [other.token for other in await self.store.links_of_user(link.lms_user_id)]
        await self.devices.remove(link, others)

    async def _dead_token(self, links: list[Link]) -> None:
        """A rejected token's device goes: removed with another token of the person if any."""
        assert self.devices is not None and self.store is not None
        dead = {link.token for link in links}
        others = [o.token for o in await self.store.links_of_user(links[0].lms_user_id) if o.token not in dead]
        for link in links:
            await self.devices.token_died(link, others)

    async def _unreachable(self, link: Link, reason: str) -> None:
        log.warning("deliveries to %s stopped: %s", link.identity, reason)
        assert self.store is not None
        if moved := await fall_back(self.store, link):
            log.info("%d item(s) for %s go to the person's other chats instead", moved, link.identity)

    async def _housekeeping(self) -> None:
        assert self.store is not None
        retention = self.settings.store.message_map_retention_days * 86400
        while True:
            await self.store.prune()
            removed = await self.store.prune_message_map(retention)
            if removed:
                log.info("message map: %d rows older than %g days forgotten", removed, retention / 86400)
            await asyncio.sleep(3600)

    def _pipeline_state(self) -> dict[str, Any]:
        """What intake knows, for ``/readyz`` and the heartbeat."""
        pipeline = self.pipeline
        assert pipeline is not None
        return {
            "poll_cycles": pipeline.cycles,
            "last_poll_at": pipeline.last_poll_at,
            "lms_down_since": None
            if pipeline.lms_down_since is None
            else time.time() - (time.monotonic() - pipeline.lms_down_since),
            "push": self.push.health() if self.push is not None else {"state": "off"},
            "polling": pipeline.degraded() or "ok",  # the same failure repeating: not ready
        }

    async def stop(self) -> None:
        """Stop everything, in reverse order; safe to call twice."""
        if self.wakeups is not None:
            await self.wakeups.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.singletons is not None:
            await self.singletons.stop()
            self.singletons = None
        if self.health is not None:
            with contextlib.suppress(Exception):
                await self.health.stopped()
            self.health = None
        if self._management is not None:
            await self._management.cleanup()
            self._management = None
        if self.starts is not None:
            await self.starts.stop()
        for adapter in self.adapters.values():
            with contextlib.suppress(Exception):
                await adapter.stop()
        if self.runner is not None:
            await self.runner.stop()  # what is left unfinished is resumed at the next start
        if self.web is not None:
            await self.web.stop()
        await self.client.close()
        if self.leases is not None:
            with contextlib.suppress(Exception):  # a clean stop: the others take over at once
                await self.leases.close()
            self.leases = None
        if self.store is not None:
            await self.store.close()
            self.store = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    async def run_until_signalled(self) -> None:
        """Run until SIGINT or SIGTERM."""
        stop = self._stop
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await self.start()
        try:
            await stop.wait()
        finally:
            if self.lost is not None:
                log.error("stopping: the singleton %s went to another replica", self.lost)
            else:
                log.info("stopping")
            await self.stop()
