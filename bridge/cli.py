"""The ``pluto-bridge`` command (typer)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from bridge import __version__
from bridge.config import ConfigError, Settings, load_settings, require_platform

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
    from bridge.app import Bridge
    from bridge.log_format import setup_logging
    from bridge.redaction import install as install_redaction

    settings = _settings(config, platform=True)
    setup_logging(settings.log_level, settings.log.format)
    install_redaction(settings)
    asyncio.run(Bridge(settings).run_until_signalled())


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
    code = asyncio.run(run_check(settings, typer.echo))
    if push or push_from:
        from bridge.check_push import run_push_check

        code = max(code, asyncio.run(run_push_check(settings, typer.echo, push_from)))
    raise typer.Exit(code)


@app.command()
def demo(
    scripted: Annotated[bool, typer.Option("--scripted", help="Play a walkthrough without input and exit.")] = False,
) -> None:
    """Try it: a seeded sandbox LMS, the bridge on SQLite, and you in the console as a mentee."""
    from bridge.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo(scripted=scripted)))


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

    settings = _settings(config)
    public_url = settings.web.public_url.rstrip("/")
    if platform == "slack":
        from adapters.slack import app_manifest as slack_manifest

        found = slack_manifest(
            name=name,
            command=settings.slack.command,
            socket_mode=settings.slack.mode == "socket",
            events_url=public_url + settings.slack.events_path,
        )
    elif platform == "teams":
        from adapters.teams import app_manifest as teams_manifest

        if settings.teams.app_id is None:
            typer.echo("config error: teams.app_id: required for the Teams manifest", err=True)
            raise typer.Exit(2)
        found = teams_manifest(app_id=settings.teams.app_id, name=name, public_url=public_url)
    else:
        typer.echo(f"unknown platform {platform!r}: slack or teams (Telegram and Discord register commands at start)")
        raise typer.Exit(2)
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
    raise typer.Exit(asyncio.run(import_links(settings, file, typer.echo, allow_admin=allow_admin)))


@link_app.command("list")
def link_list(config: ConfigOption) -> None:
    """List the links: chat identity, Pluto user, status, when and how each was made."""
    from bridge.operator import list_links

    settings = _settings(config)
    raise typer.Exit(asyncio.run(list_links(settings, typer.echo)))


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")]


@app.command()
def status(config: ConfigOption, as_json: JsonOption = False) -> None:
    """One screen: bridge running, LMS, adapters, links, backlog, dead letters, last poll, push."""
    from bridge.status import show_status

    settings = _settings(config)
    raise typer.Exit(asyncio.run(show_status(settings, typer.echo, as_json=as_json)))


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
    raise typer.Exit(asyncio.run(list_deliveries(settings, typer.echo, dead_only=dead, link_id=link, as_json=as_json)))


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
    raise typer.Exit(asyncio.run(retry_deliveries(settings, typer.echo, delivery_id)))


@deliveries_app.command("drop")
def deliveries_drop(
    delivery_id: Annotated[int, typer.Argument(help="The delivery's id (`deliveries list`).")],
    config: ConfigOption,
) -> None:
    """Never send this delivery (pending or dead); it stays listed as dropped until pruned."""
    from bridge.operator import drop_delivery

    settings = _settings(config)
    raise typer.Exit(asyncio.run(drop_delivery(settings, typer.echo, delivery_id)))


def main() -> None:
    """Console entry point."""
    app()
