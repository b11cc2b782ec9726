"""``pluto-bridge check``: is this configuration ready to run against this LMS?"""

from __future__ import annotations

from collections.abc import Callable

from bridge.config import Settings
from bridge.lms.api import MODERN_FUNCTIONS, LmsApi
from bridge.lms.client import LmsClient
from bridge.lms.errors import LmsError, LmsUnavailable, TokenRejected
from bridge.lms.notifications import TOTARA_TASKS

ALERTS_AND_TASKS: tuple[str, ...] = (
    "core_message_get_messages",
    "core_message_mark_notification_read",
    "core_message_get_contact_requests",
    "core_message_confirm_contact_request",
    "core_message_decline_contact_request",
)
LEGACY_FUNCTIONS: tuple[str, ...] = (
    "core_webservice_get_site_info",
    "core_message_get_messages",
    "core_message_send_instant_messages",
    "core_message_mark_message_read",
)
# Functions the bridge uses when the site has them, with what is lost without them.
OPTIONAL: dict[str, str] = {
    "core_message_get_user_notification_preferences": "Pluto's 'disable all notifications' switch is not honoured",
    TOTARA_TASKS: "Totara tasks arrive without their buttons' metadata (accept/reject labels, reason box)",
    "core_enrol_get_users_courses": "the bulk command cannot list a teacher's courses",
    "core_enrol_get_enrolled_users": "the bulk command cannot find a course's participants",
    "core_message_get_conversation_between_users": (
        "after a restart in the middle of a bulk message, whoever was being sent to is reported, not sent again"
    ),
    "core_message_message_search_users": "find, to and msg cannot find people, only conversations",
    "core_message_get_member_info": "the buttons of a person found (Message, Add contact, Block) do not work",
}


def required_functions(generation: str) -> tuple[str, ...]:
    """What the bridge calls on a site of this generation: messages, alerts and tasks."""
    if generation == "modern":
        return MODERN_FUNCTIONS + ALERTS_AND_TASKS
    return LEGACY_FUNCTIONS


def optional_functions(generation: str, task_action_function: str) -> dict[str, str]:
    """Functions used when present, each with what does not work without it."""
    found = {name: lost for name, lost in OPTIONAL.items() if generation == "legacy" or name != TOTARA_TASKS}
    if generation == "legacy":
        found[task_action_function] = "tasks cannot be accepted or rejected from chat, only dismissed"
    return found


async def run_check(settings: Settings, echo: Callable[[str], object]) -> int:
    """Name enabled platforms whose SDK is not installed, then print what the LMS says
    about the site and the token; returns the exit code (2 when an SDK is missing)."""
    from bridge.adapter_registry import adapter_options, missing_sdks

    missing = missing_sdks(adapter_options(settings))
    for problem in missing:
        echo(f"error: {problem}")
    store = await check_store(settings.store.url, echo)
    code = max(await check_lms(settings, echo), store)
    return max(code, 2) if missing else code


async def check_store(url: str, echo: Callable[[str], object]) -> int:
    """A database server store (PostgreSQL): is its driver installed (else 2), does it
    answer (else 1)? Read only: nothing is created or migrated. SQLite files are opened
    by ``run`` (a missing one is created), so nothing is said of them."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    from bridge.store.reach import StoreUnavailable, connect_args, describe, reach, require_driver

    if make_url(url).get_backend_name() == "sqlite":
        return 0
    try:
        require_driver(url)
        engine = create_async_engine(url, connect_args=connect_args(url))
        try:
            await reach(engine)
        finally:
            await engine.dispose()
    except StoreUnavailable as exc:
        echo(f"error: {exc}" if exc.code == 2 else str(exc))
        return exc.code
    echo(f"store: ok; {describe(url)}")
    return 0


async def check_lms(settings: Settings, echo: Callable[[str], object]) -> int:
    """Print what the LMS says about the site and the token; returns the exit code."""
    if settings.lms.token is None:
        echo("config error: lms.token: required by `check` (a token of the bridge's web service)")
        return 2
    echo(f"config: ok; LMS {settings.lms.url}")
    async with LmsClient(settings.lms.url, timeout=settings.lms.timeout, retries=settings.lms.retries) as client:
        try:
            info = await LmsApi(client).site_info(settings.lms.token.get_secret_value())
        except LmsUnavailable as exc:
            echo(f"LMS unreachable: {exc}")
            return 1
        except TokenRejected as exc:
            echo(f"lms.token rejected by the LMS: {exc.message} [{exc.errorcode}]")
            return 1
        except LmsError as exc:
            echo(f"LMS error: {exc}")
            return 1
    echo(f"site: {info.sitename} ({info.siteurl})")
    echo(f"release: {info.release} (version {info.version})")
    echo(f"generation: {info.generation}" + (" (conversations)" if info.generation == "modern" else " (Totara/legacy)"))
    echo(f"token user: {info.username} (id {info.userid})")
    echo(f"site messaging: {'on' if info.messaging else 'OFF: nothing can be relayed'}")
    for name, lost in optional_functions(info.generation, settings.lms.task_action_function).items():
        if name not in info.functions:
            echo(f"optional function {name} not available: {lost}")
    missing = [f for f in required_functions(info.generation) if f not in info.functions]
    if missing:
        echo(f"missing functions ({len(missing)}), add them to the token's web service:")
        for name in missing:
            echo(f"  - {name}")
        return 1
    echo(f"functions: all {len(required_functions(info.generation))} the bridge needs are available")
    return 0 if info.messaging else 1
