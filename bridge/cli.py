"""The ``pluto-bridge`` command (typer)."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from bridge import __version__
from bridge.config import ConfigError, Settings, load_settings

app = typer.Typer(
    help="Pluto Bridge: Pluto LMS messages, alerts and tasks in Slack, Teams, Telegram and Discord.",
    no_args_is_help=True,
    add_completion=False,
)
link_app = typer.Typer(help="Manage links between chat accounts and Pluto accounts.", no_args_is_help=True)
app.add_typer(link_app, name="link")

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="TOML settings file (env PLUTO_BRIDGE_* overrides it)")
]


def _settings(path: Path | None) -> Settings:
    try:
        return load_settings(path)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(f"config error: {problem}", err=True)
        raise typer.Exit(2) from None


def _logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


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
    from bridge.store.lock import StoreInUse

    settings = _settings(config)
    _logging(settings.log_level)
    try:
        asyncio.run(Bridge(settings).run_until_signalled())
    except StoreInUse as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def check(config: ConfigOption) -> None:
    """Validate the settings, reach the LMS with lms.token, and name missing web-service functions."""
    from bridge.check import run_check

    settings = _settings(config)
    raise typer.Exit(asyncio.run(run_check(settings, typer.echo)))


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
    file: Annotated[Path, typer.Argument(help="JSON (list or lines) of {platform, workspace?, user_id, token}")],
    config: ConfigOption,
) -> None:
    """Import administrator-issued tokens (for single-sign-on sites)."""
    from bridge.operator import import_links

    settings = _settings(config)
    raise typer.Exit(asyncio.run(import_links(settings, file, typer.echo)))


@link_app.command("list")
def link_list(config: ConfigOption) -> None:
    """List the links: chat identity, Pluto user, status."""
    from bridge.operator import list_links

    settings = _settings(config)
    raise typer.Exit(asyncio.run(list_links(settings, typer.echo)))


def main() -> None:
    """Console entry point."""
    app()
