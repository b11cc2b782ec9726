"""The ``pluto-bridge`` command (typer)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from bridge import __version__
from bridge.config import ConfigError, Settings, load_settings, require_platform

if TYPE_CHECKING:
    from bridge.model import Platform
    from bridge.ports import Adapter

app = typer.Typer(
    help="Pluto Bridge: Pluto LMS messages, alerts and tasks in Slack, Teams, Telegram and Discord.",
    no_args_is_help=True,
    add_completion=False,
)
link_app = typer.Typer(help="Manage links between chat accounts and Pluto accounts.", no_args_is_help=True)
app.add_typer(link_app, name="link")
deliveries_app = typer.Typer(
    help="Deliveries waiting to be sent or given up (dead letters): list, retry, drop.", no_args_is_help=True
)
app.add_typer(deliveries_app, name="deliveries")
apikey_app = typer.Typer(help="Keys of the Send Message API (POST /api/v1/messages).", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")
rooms_app = typer.Typer(help="Group rooms: Pluto group conversations linked to chat rooms.", no_args_is_help=True)
app.add_typer(rooms_app, name="rooms")

T = TypeVar("T")

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="TOML settings file (env PLUTO_BRIDGE_* overrides it)")
]


def _settings(path: Path | None, *, platform: bool = False) -> Settings:
    """The settings, or exit 2 with one line per problem; ``platform``: at least one chat
    platform must be enabled (to run the bridge)."""
    try:
        settings = load_settings(path)
        if platform:
            require_platform(settings)
        return settings
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(f"config error: {problem}", err=True)
        raise typer.Exit(2) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pluto-bridge {__version__}")
        raise typer.Exit()


def _run(work: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` once the command's imports are done: what they built lives as long
    as the process, so it is frozen out of the garbage collector's view (``main`` kept the
    collector off while importing; it would otherwise rescan those objects for nothing,
    at start and at every full collection after)."""
    gc.freeze()
    gc.enable()
    return asyncio.run(work)


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Pluto Bridge."""


@app.command()
def run(config: ConfigOption) -> None:
    """Run the bridge with the given settings until interrupted."""
    raise typer.Exit(serve(_settings(config, platform=True)))


def serve(settings: Settings, adapters: Mapping[Platform, Adapter] | None = None) -> int:
    """Run the bridge until signalled; the exit code. ``adapters``: prebuilt ones (tests
    give Teams the sandbox's token provider), else one per enabled platform. A platform
    enabled without its SDK, or a store another bridge holds, is one line and code 2."""
    from bridge.adapter_registry import MissingSdk, build_adapters
    from bridge.app import Bridge
    from bridge.log_format import setup_logging
    from bridge.redaction import install as install_redaction
    from bridge.store.lock import StoreInUse
    from bridge.store.reach import StoreUnavailable

    try:
        built = dict(adapters) if adapters is not None else build_adapters(settings)
    except MissingSdk as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    setup_logging(settings.log_level, settings.log.format)
    install_redaction(settings)
    bridge = Bridge(settings, built)
    try:
        _run(bridge.run_until_signalled())
    except StoreInUse as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except StoreUnavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        return exc.code
    return 1 if bridge.lost is not None else 0  # a singleton went to another replica


@app.command()
def check(
    config: ConfigOption,
    push: Annotated[bool, typer.Option("--push", help="Also say which site settings make Moodle push.")] = False,
    push_from: Annotated[
        str | None,
        typer.Option("--push-from", help="Token of a second account: prove push end to end.", metavar="TOKEN"),
    ] = None,
) -> None:
    """Validate the settings, reach the LMS with lms.token, and name missing web-service functions."""
    from bridge.check import run_check

    settings = _settings(config)
    code = _run(run_check(settings, typer.echo))
    if push or push_from:
        from bridge.check_push import run_push_check

        code = max(code, _run(run_push_check(settings, typer.echo, push_from)))
    raise typer.Exit(code)


@app.command()
def migrate(config: ConfigOption) -> None:
    """Bring the store's schema to this version's and say where it stands (every command
    does this when it opens the store; run it once before starting replicas of a new version)."""
    from bridge.operator import migrate_store

    raise typer.Exit(_run(migrate_store(_settings(config), typer.echo)))


@app.command()
def demo(
    scripted: Annotated[bool, typer.Option("--scripted", help="Play a walkthrough without input and exit.")] = False,
) -> None:
    """Try it: a seeded sandbox LMS, the bridge on SQLite, and you in the console as a mentee."""
    from bridge.demo import run_demo

    raise typer.Exit(_run(run_demo(scripted=scripted)))


@app.command()
def keygen() -> None:
    """Print a new key for store.token_key."""
    from bridge.store.crypto import new_key

    typer.echo(new_key())


@app.command()
def manifest(
    platform: Annotated[str, typer.Argument(help="slack or teams")],
    config: ConfigOption,
    name: Annotated[str, typer.Option(help="The app's name as people see it.")] = "Pluto",
) -> None:
    """Print the app manifest to register the bot with (Slack app manifest, Teams manifest.json)."""
    import json

    from bridge.adapter_registry import MissingSdk, adapter_module
    from bridge.model import Platform

    if platform not in ("slack", "teams"):
        typer.echo(f"unknown platform {platform!r}: slack or teams (Telegram and Discord register commands at start)")
        raise typer.Exit(2)
    settings = _settings(config)
    public_url = settings.web.public_url.rstrip("/")
    try:
        module = adapter_module(Platform(platform))
    except MissingSdk as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if platform == "slack":
        found = module.app_manifest(
            name=name,
            command=settings.slack.command,
            socket_mode=settings.slack.mode == "socket",
            events_url=public_url + settings.slack.events_path,
        )
    else:
        if settings.teams.app_id is None:
            typer.echo("config error: teams.app_id: required for the Teams manifest", err=True)
            raise typer.Exit(2)
        found = module.app_manifest(app_id=settings.teams.app_id, name=name, public_url=public_url)
    typer.echo(json.dumps(found, indent=2))


@link_app.command("import")
def link_import(
    file: Annotated[
        Path,
        typer.Argument(help="JSON (list or lines) of {platform, workspace?, user_id, token, username|lms_user_id}"),
    ],
    config: ConfigOption,
    allow_admin: Annotated[
        bool, typer.Option("--allow-admin", help="also link site administrators' tokens (they bypass privacy rules)")
    ] = False,
) -> None:
    """Import administrator-issued tokens (for single-sign-on sites)."""
    from bridge.operator import import_links

    settings = _settings(config)
    raise typer.Exit(_run(import_links(settings, file, typer.echo, allow_admin=allow_admin)))


@link_app.command("list")
def link_list(config: ConfigOption) -> None:
    """List the links: chat identity, Pluto user, status, when and how each was made."""
    from bridge.operator import list_links

    settings = _settings(config)
    raise typer.Exit(_run(list_links(settings, typer.echo)))


@rooms_app.command("list")
def rooms_list(config: ConfigOption) -> None:
    """List the linked rooms: room, Pluto group, active or paused (with the reason), who linked it."""
    from bridge.rooms.operator import list_rooms

    settings = _settings(config)
    raise typer.Exit(_run(list_rooms(settings, typer.echo)))


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")]


@app.command()
def status(config: ConfigOption, as_json: JsonOption = False) -> None:
    """One screen: bridge running, LMS, adapters, links, backlog, dead letters, last poll, push."""
    from bridge.status import show_status

    settings = _settings(config)
    raise typer.Exit(_run(show_status(settings, typer.echo, as_json=as_json)))


@deliveries_app.command("list")
def deliveries_list(
    config: ConfigOption,
    dead: Annotated[bool, typer.Option("--dead", help="Only the deliveries that were given up.")] = False,
    link: Annotated[int | None, typer.Option("--link", help="Only the deliveries to this link (its id).")] = None,
    as_json: JsonOption = False,
) -> None:
    """List deliveries not sent yet or given up, oldest first, each with its last reason."""
    from bridge.operator import list_deliveries

    settings = _settings(config)
    raise typer.Exit(_run(list_deliveries(settings, typer.echo, dead_only=dead, link_id=link, as_json=as_json)))


@deliveries_app.command("retry")
def deliveries_retry(
    config: ConfigOption,
    delivery_id: Annotated[int | None, typer.Argument(help="The delivery's id (`deliveries list`).")] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Every dead delivery.")] = False,
) -> None:
    """Queue a dead delivery (or every one) again; a running bridge sends it at once."""
    from bridge.operator import retry_deliveries

    if (delivery_id is None) != all_dead:
        typer.echo("give a delivery id or --all-dead (not both)", err=True)
        raise typer.Exit(2)
    settings = _settings(config)
    raise typer.Exit(_run(retry_deliveries(settings, typer.echo, delivery_id)))


@deliveries_app.command("drop")
def deliveries_drop(
    delivery_id: Annotated[int, typer.Argument(help="The delivery's id (`deliveries list`).")],
    config: ConfigOption,
) -> None:
    """Never send this delivery (pending or dead); it stays listed as dropped until pruned."""
    from bridge.operator import drop_delivery

    settings = _settings(config)
    raise typer.Exit(_run(drop_delivery(settings, typer.echo, delivery_id)))


@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Argument(help="A name for the calling system, e.g. hr-sheet.")],
    config: ConfigOption,
    sender: Annotated[str, typer.Option("--sender", help="The Pluto username messages come from.")],
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="chat and/or pluto (repeat for both); default chat.")
    ] = None,
    rate: Annotated[int, typer.Option("--rate", min=1, max=6000, help="Requests a minute allowed.")] = 60,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from bridge.api.admin import create_key

    settings = _settings(config)
    raise typer.Exit(_run(create_key(settings, typer.echo, name, sender, scope or ["chat"], rate)))


@apikey_app.command("list")
def apikey_list(config: ConfigOption) -> None:
    """List the API keys: name, prefix, sender, scopes, rate, last use, revoked."""
    from bridge.api.admin import list_keys

    settings = _settings(config)
    raise typer.Exit(_run(list_keys(settings, typer.echo)))


@apikey_app.command("revoke")
def apikey_revoke(
    name: Annotated[str, typer.Argument(help="The key's name (`apikey list`).")],
    config: ConfigOption,
) -> None:
    """Revoke an API key: its next request is refused."""
    from bridge.api.admin import revoke_key

    settings = _settings(config)
    raise typer.Exit(_run(revoke_key(settings, typer.echo, name)))


def main() -> None:
    """Console entry point. A store that cannot be opened (driver missing, database
    unreachable) is one line and its exit code, from every command that opens it."""
    from bridge.store.reach import StoreUnavailable

    # Off while the command imports (the SDKs, SQLAlchemy, pydantic: a fifth of the start's
    # CPU went to collections that found nothing); ``_run`` turns it on again.
    gc.disable()
    try:
        app()
    except StoreUnavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(exc.code) from None
    finally:
        gc.enable()
