"""SandboxLMS: an aiohttp server on 127.0.0.1 that answers like Moodle 4.5 web services.

Tests run it in-process and drive it with the plain-Python hooks below; every web-service
call it receives is kept in ``calls``. It imports nothing from the bridge.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from sandbox.kit import listen

from . import (  # noqa: F401
    notices,
    ws_contacts,
    ws_conversations,
    ws_enrol,
    ws_groups,
    ws_notifications,
    ws_send,
    ws_site,
    ws_totara,
)
from .clock import Clock
from .errors import (
    WSError,
    access_exception,
    coding_error,
    invalid_parameter,
    invalid_token,
    messaging_disabled,
    missing_record,
    site_maintenance,
)
from .forum import DEFAULT_FORUM, Forums
from .params import decode_brackets
from .push import AirnotifierOutput, Push
from .registry import MODERN, Ctx, Registry
from .seed import DemoSeed, seed_demo
from .state import ADMIN_ID, Device, State, TaskAction, TaskMeta, Token
from .textformat import FORMATS, s
from .views import Site

log = logging.getLogger(__name__)
MODES: dict[str, Registry] = {"modern": MODERN, "totara": ws_totara.TOTARA}
MODERN_RELEASE = "4.5.11+ (Build: 20260501)"
# Totara keeps a Moodle-3.x-era core version number under its own release name.
SITE_VERSIONS = {"modern": "2024100711.02", "totara": "2017111309.00"}
DEFAULT_RELEASES = {"modern": MODERN_RELEASE, "totara": "Totara 17.10 (Build: 20240410.00)"}
MOBILE_SERVICE = "moodle_mobile_app"
# Real Moodle functions the sandbox does not implement and no mobile token may call: the
# site has them, the token's service lacks them, so Moodle answers ``accessexception``
# (moodle-4.5-observed.md item 24), not ``invalidrecord`` as for a name the site lacks.
SITE_ONLY_FUNCTIONS = frozenset(
    {
        "core_user_create_users",
        "core_user_delete_users",
        "core_user_update_users",
        "core_user_get_users",
        "core_course_create_courses",
        "core_course_get_courses",
        "core_course_delete_courses",
        "core_role_assign_roles",
        "core_role_unassign_roles",
        "enrol_manual_enrol_users",
        "core_group_add_group_members",
    }
)
_RESERVED = ("wstoken", "wsfunction", "moodlewsrestformat")


@dataclass(frozen=True)
class Call:
    """One web-service call as received (``params`` with brackets decoded, reserved names removed)."""

    function: str
    params: dict[str, Any]
    token: str
    userid: int | None
    time: float


def _ajax_error(text: str, errorcode: str) -> web.Response:
    """``login/token.php`` errors use the AJAX shape, also with HTTP 200."""
    body = {
        "error": text,
        "errorcode": errorcode,
        "stacktrace": None,
        "debuginfo": None,
        "reproductionlink": None,
    }
    return web.json_response(body)


class SandboxLMS:
    """A stand-in Pluto LMS (Moodle 4.5 web services over REST)."""

    def __init__(
        self,
        *,
        mode: str = "modern",
        site_name: str = "Pluto LMS (sandbox)",
        clock: Clock | None = None,
        release: str = MODERN_RELEASE,
        task_extension: bool = True,
    ) -> None:
        """``task_extension=False`` (Totara mode): the site lacks the custom
        ``local_pluto_*`` plugin, as a stock Totara does."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; known: {sorted(MODES)}")
        self.mode = mode
        self.site_name = site_name
        # The modern default release stands for "the mode's default" in totara mode.
        self.release = DEFAULT_RELEASES[mode] if release == MODERN_RELEASE else release
        self.clock = clock or Clock()
        self.state = State(self.clock, legacy=mode == "totara")
        self.forums = Forums(self.state)
        self.registry = MODES[mode]
        if not task_extension:
            self.registry = Registry(
                {name: fn for name, fn in self.registry.functions.items() if not name.startswith("local_pluto_")}
            )
        self.calls: list[Call] = []
        self._after_call: list[tuple[str, Callable[[dict[str, Any]], bool]]] = []
        self.url = ""
        self._down = False
        self._maintenance = False
        self._latency = 0.0
        self._answer_delay = 0.0
        self._answer_delay_of: str | None = None  # only this function's answers are late
        self._services: dict[str, frozenset[str] | None] = {MOBILE_SERVICE: None}
        self._runner: web.AppRunner | None = None
        self.airnotifier = AirnotifierOutput(self.state, lambda: self.url, site_name)
        self.state.listeners.append(self.airnotifier)
        self.app = web.Application(middlewares=[self._gate])
        self.app.router.add_route("*", "/login/token.php", self._token_php)
        self.app.router.add_route("*", "/webservice/rest/server.php", self._server_php)
        admin = self.state.add_user("admin", "Passw0rd!", "Admin", "User", "admin@example.com")
        assert admin.id == ADMIN_ID
        self.admin_token = self.issue_token(ADMIN_ID)

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0 = any free port); returns the base URL."""
        self._runner, self.url = await listen(self.app, port, host)
        return self.url

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        await self.airnotifier.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- HTTP ---------------------------------------------------------------------------

    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self._latency > 0:
            await asyncio.sleep(self._latency)
        if self._down:
            return web.Response(status=503, text="Service Unavailable")
        response: web.StreamResponse = await handler(request)
        if self._answer_delay > 0 and self._answer_delay_of is None:
            await asyncio.sleep(self._answer_delay)
        return response

    @staticmethod
    async def _pairs(request: web.Request) -> list[tuple[str, str]]:
        """GET then POST arguments (POST wins on a clash, as PHP's merge does)."""
        pairs = [(k, v) for k, v in request.query.items()]
        if request.can_read_body:
            form = await request.post()
            pairs += [(k, v) for k, v in form.items() if isinstance(v, str)]
        return pairs

    def _site(self) -> Site:
        return Site(self.state, self.url, self.site_name, self.release, SITE_VERSIONS[self.mode])

    async def _token_php(self, request: web.Request) -> web.Response:
        args = dict(await self._pairs(request))
        if self._maintenance:
            err = site_maintenance()
            return _ajax_error(err.message, err.errorcode)
        for name in ("username", "password"):
            if not args.get(name):
                return _ajax_error(f"A required parameter ({name}) was missing", "missingparam")
        service = args.get("service", "")
        user = next((u for u in self.state.users.values() if u.username == args["username"].lower()), None)
        if user is None or user.password != args["password"] or user.suspended:
            return _ajax_error("Invalid login, please try again", "invalidlogin")
        if service not in self._services:
            return _ajax_error(
                "Web service is not available (it doesn't exist or might be disabled)", "servicenotavailable"
            )
        token = self._stable_token(user.id, service)
        notices.queue_login(self.state, user.id)
        return web.json_response({"token": token.token, "privatetoken": None})

    async def _server_php(self, request: web.Request) -> web.Response:
        # moodlewsrestformat other than json (Moodle's default is xml) is answered in JSON anyway.
        raw = decode_brackets(await self._pairs(request))
        wstoken = str(raw.get("wstoken", ""))
        function = str(raw.get("wsfunction", ""))
        params = {k: v for k, v in raw.items() if k not in _RESERVED and not k.startswith("moodlewssetting")}
        token = self.state.tokens.get(wstoken)
        self.calls.append(Call(function, params, wstoken, token.userid if token else None, time.time()))
        try:
            result = self._dispatch(token, function, params)
        except WSError as exc:
            return web.json_response(exc.body())
        except KeyError:  # an id that names nothing: Moodle rejects the argument
            log.warning("sandbox LMS: %s with unknown id(s) %s", function, params, exc_info=True)
            return web.json_response(invalid_parameter().body())
        except Exception as exc:  # a sandbox bug: still HTTP 200, as Moodle's server never fails otherwise
            log.exception("sandbox LMS: %s failed", function)
            return web.json_response(coding_error(repr(exc)).body())
        for hook in [h for h in self._after_call if h[0] == function]:
            if hook[1](params):
                self._after_call.remove(hook)
        if self._answer_delay > 0 and self._answer_delay_of == function:
            await asyncio.sleep(self._answer_delay)
        return web.json_response(result)

    def after_call(self, function: str, hook: Callable[[dict[str, Any]], bool]) -> None:
        """Run ``hook(params)`` each time ``function`` has been answered, before the answer
        leaves: a test's way to make something happen between two reads of a client (a
        task created between the bridge's two notification reads). The hook is dropped once
        it returns True."""
        self._after_call.append((function, hook))

    def _allowed(self, token: Token) -> list[str]:
        if token.functions is not None:
            names: frozenset[str] | None = token.functions
        else:
            names = self._services.get(token.service)
        everything = self.registry.functions
        return sorted(everything if names is None else (n for n in names if n in everything))

    def _dispatch(self, token: Token | None, function: str, params: Mapping[str, Any]) -> Any:
        if self._maintenance:
            raise site_maintenance()
        if token is None:
            raise invalid_token()
        if token.expired:  # Moodle deletes an expired token when it meets it
            self.state.tokens.pop(token.token, None)
            raise access_exception()
        if self.state.user(token.userid).suspended:
            raise access_exception()
        fn = self.registry.functions.get(function)
        if fn is None:
            if function in SITE_ONLY_FUNCTIONS and not self.state.legacy:
                raise access_exception()
            raise missing_record("external_functions")
        allowed = self._allowed(token)
        if function not in allowed:
            raise access_exception()
        ctx = Ctx(self._site(), token, allowed)
        return fn.call(ctx, params)

    # --- tokens ---------------------------------------------------------------------------

    def _stable_token(self, userid: int, service: str) -> Token:
        for token in self.state.tokens.values():
            if (
                token.userid == userid
                and token.service == service
                and token.functions is None
                and not token.expired
            ):
                return token
        return self.state.new_token(userid, service, None)

    def issue_token(
        self, userid: int, service: str = MOBILE_SERVICE, functions: set[str] | None = None
    ) -> str:
        """A token for ``userid``: the service's full list, or a restricted set of ``functions``."""
        self.state.user(userid)
        if functions is None:
            self._services.setdefault(service, None)
            return self._stable_token(userid, service).token
        unknown = set(functions) - set(self.registry.functions)
        if unknown:
            raise ValueError(f"no such functions in {self.mode} mode: {sorted(unknown)}")
        return self.state.new_token(userid, service, frozenset(functions)).token

    def remove_from_service(self, *functions: str, service: str = MOBILE_SERVICE) -> None:
        """Take functions out of a service, as a site administrator can: tokens of that
        service then get ``accessexception`` for them (observed 24)."""
        unknown = set(functions) - set(self.registry.functions)
        if unknown:
            raise ValueError(f"no such functions in {self.mode} mode: {sorted(unknown)}")
        current = self._services.get(service)
        names = set(self.registry.functions) if current is None else set(current)
        self._services[service] = frozenset(names - set(functions))

    def expire_token(self, token: str) -> None:
        """Put a token past its ``validuntil``: the next call answers ``accessexception`` and
        deletes it (later calls: ``invalidtoken``); a new sign-in issues a fresh token."""
        self.state.tokens[token].expired = True

    def suspend_user(self, userid: int, suspended: bool = True) -> None:
        """Suspend (or reinstate) an account: its tokens answer ``accessexception``, sign-in fails."""
        self.state.user(userid).suspended = suspended

    def set_maintenance(self, on: bool) -> None:
        """Maintenance mode: every call and sign-in answers ``sitemaintenance`` (still HTTP 200)."""
        self._maintenance = on

    def revoke_token(self, token: str) -> None:
        """Delete a token; every later call with it answers ``invalidtoken``."""
        self.state.tokens.pop(token, None)

    # --- test hooks: people and courses -------------------------------------------------

    def create_user(
        self,
        username: str,
        password: str = "Passw0rd!",
        firstname: str = "",
        lastname: str = "",
        email: str | None = None,
    ) -> int:
        """Create an account; returns its id (admin is 2, new ids from 3)."""
        email = email if email is not None else f"{username}@example.com"
        return self.state.add_user(username.lower(), password, firstname, lastname, email).id

    def create_course(self, shortname: str, fullname: str) -> int:
        """Create a course; returns its id (from 2; 1 is the site)."""
        return self.state.add_course(shortname, fullname).id

    def enrol(self, courseid: int, userid: int, role: str = "student") -> None:
        """Enrol a user; a new enrolment sends the course welcome notification (observed 14)."""
        course = self.state.courses[courseid]
        self.state.user(userid)
        new = userid not in course.enrolments
        course.enrolments[userid] = role
        if new:
            notices.enrol_welcome(self.state, courseid, userid)

    def create_group(
        self, courseid: int, name: str, member_ids: list[int], messaging: bool = True
    ) -> tuple[int, int | None]:
        """Create a course group; with messaging on it gets a group conversation."""
        group = self.state.add_group(courseid, name, member_ids, messaging)
        return group.id, group.conversation_id

    def add_group_member(self, groupid: int, userid: int) -> None:
        """Add an enrolled user to a group (and so to its conversation)."""
        group = self.state.groups[groupid]
        if userid not in self.state.courses[group.courseid].enrolments:
            raise ValueError(f"user {userid} is not enrolled in course {group.courseid}")
        if userid not in group.members:
            group.members.append(userid)

    def remove_group_member(self, groupid: int, userid: int) -> None:
        """Take a user out of a group (and so out of its conversation)."""
        group = self.state.groups[groupid]
        if userid in group.members:
            group.members.remove(userid)

    def add_contact(self, a: int, b: int) -> None:
        """Make two users contacts directly (no request)."""
        if not self.state.is_contact(a, b):
            self.state.contacts.append((a, b))

    def block(self, blocker: int, blocked: int) -> None:
        """``blocker`` blocks ``blocked``."""
        self.state.blocks.add((blocker, blocked))

    def set_preference(self, userid: int, name: str, value: str | None) -> None:
        """Set (or with None, unset) a user preference such as ``message_blocknoncontacts``."""
        prefs = self.state.user(userid).prefs
        if value is None:
            prefs.pop(name, None)
        else:
            prefs[name] = str(value)

    def set_role_capability(self, role: str, capability: str, allowed: bool) -> None:
        """The site's staff allow or remove a capability of a role (Define roles), e.g. take
        ``moodle/site:messageanyuser`` from editing teachers so privacy applies to them too."""
        if role not in self.state.role_capabilities:
            raise ValueError(f"unknown role {role!r}; known: {sorted(self.state.role_capabilities)}")
        caps = self.state.role_capabilities[role]
        if allowed:
            caps.add(capability)
        else:
            caps.discard(capability)

    def set_config(self, **settings: object) -> None:
        """Site settings: ``messaging`` and ``messagingallusers`` (booleans), ``maxeditingtime``
        (seconds a forum post stays editable before cron may mail it; default 1800, observed 16)."""
        for name, value in settings.items():
            if name not in self.state.config:
                raise ValueError(f"unknown setting {name!r}; known: {sorted(self.state.config)}")
            if name == "maxeditingtime":
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"maxeditingtime must be a number of seconds, not {value!r}")
                self.state.config[name] = value
            else:
                self.state.config[name] = bool(value)

    # --- test hooks: traffic ----------------------------------------------------------------

    def post_message(self, from_id: int, to_id: int, text: str, textformat: int = 2) -> dict[str, Any]:
        """Send as ``from_id`` by the rules of ``send_instant_messages``; returns its result item."""
        fmt = textformat if textformat in FORMATS else 0
        if self.state.legacy:
            if not self.state.config["messaging"]:
                raise messaging_disabled()
            return ws_totara.send_legacy(self.state, from_id, to_id, text, fmt)
        return ws_send.send_instant(self.state, from_id, to_id, text, fmt)

    def post_to_conversation(
        self, from_id: int, conversation_id: int, text: str, textformat: int = 2
    ) -> dict[str, Any]:
        """Send into a conversation as ``from_id``; raises WSError when not allowed."""
        return ws_send.send_to_conversation(self.state, from_id, conversation_id, text, textformat)

    def conversation_between(self, a: int, b: int) -> int | None:
        """The one-to-one conversation id of two users, if any."""
        conv = self.state.individual_between(a, b)
        return conv.id if conv else None

    def messages_in(self, conversation_id: int) -> list[dict[str, Any]]:
        """Every message of a conversation, (timecreated, id) order, text raw as sent."""
        msgs = [m for m in self.state.messages.values() if m.conversationid == conversation_id]
        msgs.sort(key=lambda m: (m.timecreated, m.id))
        return [
            {
                "id": m.id,
                "useridfrom": m.useridfrom,
                "text": m.text,
                "textformat": m.textformat,
                "timecreated": m.timecreated,
            }
            for m in msgs
        ]

    def forum_post(
        self, course_id: int, author_id: int, subject: str, html: str, *, forum: str = DEFAULT_FORUM
    ) -> dict[str, int]:
        """Start a discussion in the course's (forced-subscription) forum ``forum`` as ``author_id``.

        Nothing is delivered yet: the ``mod_forum/posts`` notification reaches every other
        enrolled user only from the first ``run_cron()`` after the clock has passed post time +
        ``maxeditingtime`` (observed 16, 11b). Returns the ids: forumid, cmid, discussionid, postid.
        """
        post = self.forums.add_discussion(course_id, author_id, subject, html, forum)
        return {
            "forumid": post.forum.id,
            "cmid": post.forum.cmid,
            "discussionid": post.discussionid,
            "postid": post.id,
        }

    def run_cron(self) -> list[int]:
        """One cron run: sends the "New sign in" notifications queued by sign-ins (observed 20),
        then mails forum posts past their editing window, each once (observed 16); the
        notifications are stamped with the current second. Returns their ids, in that order."""
        logins = notices.send_queued_logins(self.state, self.site_name)
        return [note.id for note in logins + self.forums.run_cron()]

    def notify(
        self,
        userid: int,
        *,
        subject: str,
        text: str,
        component: str = "moodle",
        eventtype: str = "notices",
        useridfrom: int = -10,
        contexturl: str = "",
        contexturlname: str = "",
        customdata: dict[str, Any] | None = None,
    ) -> int:
        """Queue a notification to ``userid`` (plain text); returns its id."""
        self.state.user(userid)
        note = notices.add_notification(
            self.state,
            userid,
            subject=subject,
            fullmessage=text,
            fullmessagehtml="",
            smallmessage=text,
            component=component,
            eventtype=eventtype,
            useridfrom=useridfrom,
            contexturl=contexturl,
            contexturlname=contexturlname,
            customdata=customdata,
        )
        return note.id

    def task(
        self,
        userid: int,
        subject: str,
        text: str,
        *,
        workflow: str | None = "facetoface",
        data: dict[str, object] | None = None,
        useridfrom: int = -10,
        msgtype: int = 7,
        urgency: int = 0,
        icon: str = "facetoface-request",
        contexturl: str = "",
        contexturlname: str = "",
        acceptbutton: str = "",
        rejectbutton: str = "",
        needsreason: bool = False,
        outcome: bool = True,
    ) -> int:
        """Totara task (``totara_message/task``) to ``userid``; returns its message id.

        ``workflow`` is the onaccept/onreject plugin (None: a task with no decision, e.g. a
        link task, msgtype 10); ``outcome`` is what that workflow returns when run.
        """
        meta = TaskMeta(
            msgtype,
            urgency,
            icon,
            workflow,
            dict(data or {}),
            acceptbutton,
            rejectbutton,
            needsreason,
            outcome,
        )
        return self._totara_item("task", userid, subject, text, useridfrom, contexturl, contexturlname, meta)

    def alert(
        self,
        userid: int,
        subject: str,
        text: str,
        *,
        useridfrom: int = -10,
        msgtype: int = 0,
        urgency: int = 0,
        icon: str = "default",
        contexturl: str = "",
        contexturlname: str = "",
    ) -> int:
        """Totara alert (``totara_message/alert``) to ``userid``; returns its message id."""
        meta = TaskMeta(msgtype, urgency, icon, None, {}, "", "", False, True)
        return self._totara_item("alert", userid, subject, text, useridfrom, contexturl, contexturlname, meta)

    def _totara_item(
        self,
        kind: str,
        userid: int,
        subject: str,
        text: str,
        useridfrom: int,
        contexturl: str,
        contexturlname: str,
        meta: TaskMeta,
    ) -> int:
        self.state.user(userid)
        note = notices.add_notification(
            self.state,
            userid,
            subject=subject,
            fullmessage=text,
            fullmessagehtml=f"<p>{s(text)}</p>",
            smallmessage=text,
            component="totara_message",
            eventtype=kind,
            useridfrom=useridfrom,
            contexturl=contexturl,
            contexturlname=contexturlname,
        )
        self.state.task_meta[note.key] = meta
        return note.id

    def delay_task_listing(self, msgid: int, reads: int) -> None:
        """Leave the task or alert ``msgid`` out of the next ``reads`` calls of
        ``local_pluto_get_tasks`` that would list it, while it is already an unread
        notification: Totara writes a task's metadata after its row, so a client can meet
        the row before the task."""
        note = self.state.find_notification(msgid)
        if note is None or note.key not in self.state.task_meta:
            raise ValueError(f"no open task or alert {msgid}")
        self.state.listing_delays[note.key] = reads

    @property
    def task_actions(self) -> list[TaskAction]:
        """Task workflows run through ``local_pluto_task_action``, in order."""
        return self.state.task_actions

    def set_airnotifier(
        self,
        url: str | None,
        *,
        port: int = 443,
        appname: str = "commoodlemoodlemobile",
        accesskey: str = "sandbox-airnotifier-key",
        mobileappname: str = "com.moodle.moodlemobile",
        encrypt: bool = False,
    ) -> None:
        """Set the site's airnotifier settings (``url`` None: off, the default).

        Moodle posts to ``{url}:{port}/api/v2/push/`` (and registers devices at
        ``{url}:{port}/tokens/{pushid}``) for each device its recipient registered with
        ``core_user_add_user_device`` under the app id ``mobileappname``. ``encrypt`` is
        ``encryptnotifications``: devices without a public key then get nothing.
        """
        self.airnotifier.url = url
        self.airnotifier.port = port
        self.airnotifier.appname = appname
        self.airnotifier.accesskey = accesskey
        self.airnotifier.mobileappid = mobileappname
        self.airnotifier.encrypt = encrypt

    def lose_pushes(self, count: int = 1) -> None:
        """The next ``count`` push POSTs are lost on the way (a network hiccup)."""
        self.airnotifier.drop_next = count

    @property
    def devices(self) -> list[Device]:
        """Devices registered with ``core_user_add_user_device``, in order."""
        return list(self.state.devices)

    @property
    def pushes(self) -> list[Push]:
        """Every POST the output made (or attempted), registrations (kind "token") and pushes, in order."""
        return self.airnotifier.sent

    async def flush_pushes(self) -> None:
        """Wait until every scheduled push POST has finished."""
        await self.airnotifier.flush()

    def set_down(self, down: bool) -> None:
        """While down, every HTTP request answers 503 (an LMS outage)."""
        self._down = down

    def set_latency(self, seconds: float) -> None:
        """Delay every request by ``seconds`` before it is handled."""
        self._latency = max(0.0, float(seconds))

    def set_answer_delay(self, seconds: float, function: str | None = None) -> None:
        """Handle every request (only calls of ``function``, when named) at once but
        answer ``seconds`` later: the work is done even when the client has given up
        waiting (a slow site under load), and other clients see it meanwhile."""
        self._answer_delay = max(0.0, float(seconds))
        self._answer_delay_of = function

    def seed_demo(self) -> DemoSeed:
        """Seed the demo course, users and group conversation."""
        return seed_demo(self)
