"""A stand-in for Microsoft Teams' Bot Connector on 127.0.0.1.

It plays both sides: the services the bot calls (client-credentials token endpoint,
JWKS + OpenID metadata, the v3 connector REST API at a ``serviceUrl``) and the channel
that pushes signed Activities to the bot's messaging endpoint. Everything received is
recorded; failures and throttling can be injected; request bodies are checked against
the Bot Connector Swagger spec and every Adaptive Card against the 1.5 JSON Schema.

This module is "the outside world": it never imports the bridge or the adapters.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jsonschema
import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from sandbox.kit import Changes, FaultPlan, Recorder, SlidingWindow, listen, run_main, serve_forever
from sandbox.specs import SPECS_DIR
from sandbox.teams_rooms import GraphTeam, TeamsRoomsMixin

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
BOTFRAMEWORK_ISSUER = "https://api.botframework.com"
_BODY: web.RequestKey[Any] = web.RequestKey("body", object)
# Teams' documented throttles for one bot: per conversation ("per bot per thread") and
# per app per tenant, as sliding windows of (requests, seconds).
PER_CONVERSATION_LIMITS = ((7, 1.0), (8, 2.0), (60, 30.0), (1800, 3600.0))
PER_APP_LIMITS = ((50, 1.0),)
MAX_ACTIVITY_BYTES = 28 * 1024  # "a bot's message can be up to about 28 KB", card included


@dataclass
class Recorded:
    """One request the sandbox received."""

    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    body: Any
    status: int = 0
    conversation: str | None = None
    at: float = 0.0  # time.monotonic() when it arrived


@dataclass
class TeamsUser:
    """A person in the sandbox tenant."""

    id: str
    aad_object_id: str
    name: str
    installed: bool = True


@dataclass
class Conversation:
    """A conversation held by the connector: members and the activities in it."""

    id: str
    tenant_id: str
    conversation_type: str
    members: list[str]
    activities: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    # Rooms (team channels, group chats; sandbox.teams_rooms): their title, team, whether
    # the bot is in them, the resource-specific consent granted.
    name: str = ""
    team_id: str = ""
    team_name: str = ""
    bot_in: bool = True
    consent: bool = False


@dataclass
class _Injection:
    status: int
    count: int
    method: str | None
    conversation: str | None
    retry_after: float | None


class CardRefused(Exception):
    """The Teams client would not send this press (no such button, a link button, a
    required input left empty)."""


@dataclass
class TokenSwitches:
    """How to forge an inbound token (each switch breaks one check)."""

    wrong_key: bool = False
    wrong_audience: bool = False
    expired: bool = False
    serviceurl_mismatch: bool = False
    missing_header: bool = False
    wrong_issuer: bool = False
    # A genuine Bot Framework key, but endorsed for Web Chat and Direct Line only: what the
    # connector signs those channels' activities with (an msteams activity must not pass).
    webchat_key: bool = False


def _schemas() -> tuple[jsonschema.Draft6Validator, dict[str, Any]]:
    connector = json.loads((SPECS_DIR / "botframework_connector_api.json").read_text())
    card_schema = json.loads((SPECS_DIR / "adaptive_card_1.5.json").read_text())
    # Swagger 2.0 definitions are draft-04 JSON Schema; keep them under #/definitions.
    return jsonschema.Draft6Validator(card_schema), {"definitions": connector["definitions"]}


def _without_nulls(value: Any) -> Any:
    """Swagger 2.0 has no nullable types; the SDK sends explicit nulls (lenient)."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


class SandboxTeams(TeamsRoomsMixin):
    """Fake Teams: token endpoint, JWKS, connector REST API, and an Activity pusher.

    ``app_id``/``app_password`` are the credentials the token endpoint accepts and the
    audience of minted inbound tokens. ``bot_endpoint`` is the bot's messaging URL
    (set it before pushing activities). ``enforce_limits`` switches Teams' throttling on
    or off: per conversation 7/1 s, 8/2 s, 60/30 s, 1800/3600 s on sends and updates, and
    50 requests/s for the whole app; a throttled call answers 429 with ``Retry-After``.
    A message (send, reply, update) over ``max_activity_bytes`` answers 413.
    """

    def __init__(
        self,
        *,
        app_id: str = "00000000-0000-0000-0000-00000000b07a",
        app_password: str = "sandbox-secret",
        tenant_id: str = "72f988bf-0000-0000-0000-00000000beef",
        enforce_limits: bool = True,
        token_lifetime: int = 3599,
    ) -> None:
        self.app_id = app_id
        self.app_password = app_password
        self.tenant_id = tenant_id
        self.enforce_limits = enforce_limits
        # (count, seconds) windows per conversation; tests may widen them to stay timing-free.
        self.limits: tuple[tuple[int, float], ...] = PER_CONVERSATION_LIMITS
        self.app_limits: tuple[tuple[int, float], ...] = PER_APP_LIMITS
        self.max_activity_bytes = MAX_ACTIVITY_BYTES
        self.token_lifetime = token_lifetime
        self.bot_endpoint: str | None = None
        # Sends are stored at once but answered this many seconds later (the activity is
        # in the chat even if the bot gives up or dies waiting).
        self.answer_delay = 0.0
        self.requests: Recorder[Recorded] = Recorder()
        self.token_requests: list[dict[str, str]] = []
        self.validation_errors: list[str] = []
        self.users: dict[str, TeamsUser] = {}
        self.conversations: dict[str, Conversation] = {}
        self.graph_teams: dict[str, GraphTeam] = {}
        self._issued: dict[str, float] = {}
        self._faults: FaultPlan[_Injection] = FaultPlan()
        # (key, count, window) -> the calls counted in that window
        self._windows: dict[tuple[str, int, float], SlidingWindow] = {}
        self.throttled = 0  # 429s answered by the throttles (not injected ones)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._wrong_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "sandbox-key-1"
        self._webchat_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.webchat_kid = "sandbox-key-webchat"
        self._card_validator, self._definitions = _schemas()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._changes: Changes = self.requests.changes
        self.base_url = ""

    # lifecycle ----------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application serving every fake endpoint."""
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/v1/.well-known/keys", self._jwks)
        app.router.add_get("/v1/.well-known/openidconfiguration", self._openid)
        app.router.add_post("/oauth2/v2.0/token", self._token)
        app.router.add_post("/v3/conversations", self._create_conversation)
        app.router.add_post("/v3/conversations/{cid}/activities", self._send)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._reply)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._update)
        app.router.add_delete("/v3/conversations/{cid}/activities/{aid}", self._delete)
        app.router.add_get("/v3/conversations/{cid}/members", self._members)
        self.graph_routes(app)
        return app

    async def start(self, port: int = 0) -> str:
        """Serve on 127.0.0.1 (port 0 = any free port); returns the base URL."""
        self._runner, self.base_url = await listen(self.app(), port)
        self._session = aiohttp.ClientSession()
        return self.base_url

    async def stop(self) -> None:
        """Stop serving and close the pusher's client session; safe twice."""
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # well-known URLs ----------------------------------------------------------------

    @property
    def service_url(self) -> str:
        """The connector's serviceUrl (as Teams sends it, with a trailing slash)."""
        return f"{self.base_url}/"

    @property
    def token_endpoint(self) -> str:
        return f"{self.base_url}/oauth2/v2.0/token"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/v1/.well-known/keys"

    # switches -----------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        *,
        count: int = 1,
        method: str | None = None,
        conversation: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """The next ``count`` connector calls (optionally only this HTTP method and/or
        conversation) answer ``status``; 429 carries ``Retry-After``."""
        self._faults.add(_Injection(status, count, method, conversation, retry_after))

    # people and conversations --------------------------------------------------------

    def add_user(self, name: str, *, installed: bool = True) -> TeamsUser:
        """A person in the tenant; ``installed`` says whether the bot app is installed
        for them (POST /v3/conversations answers 403 otherwise)."""
        user = TeamsUser(
            id=f"29:{secrets.token_hex(12)}", aad_object_id=str(uuid.uuid4()), name=name, installed=installed
        )
        self.users[user.id] = user
        return user

    def personal_conversation(self, user: TeamsUser) -> Conversation:
        """The 1:1 conversation between ``user`` and the bot (created on first use)."""
        for conv in self.conversations.values():
            if conv.conversation_type == "personal" and conv.members == [user.id]:
                return conv
        conv = Conversation(
            id=f"a:{secrets.token_urlsafe(24)}",
            tenant_id=self.tenant_id,
            conversation_type="personal",
            members=[user.id],
        )
        self.conversations[conv.id] = conv
        return conv

    async def wait_until(self, predicate: Callable[[], bool], limit: float = 10.0) -> None:
        """Wait until ``predicate()`` holds, re-checking after every request received;
        raises TimeoutError after ``limit`` seconds so a broken test fails, not hangs."""
        await self._changes.wait_until(predicate, limit)

    def messages_in(self, conversation_id: str) -> list[dict[str, Any]]:
        """Activities the bot posted into a conversation and did not delete, in order."""
        conv = self.conversations.get(conversation_id)
        return [a for k, a in conv.activities.items() if k not in conv.deleted] if conv else []

    # token minting ------------------------------------------------------------------

    def mint_token(self, *, service_url: str | None = None, switches: TokenSwitches | None = None) -> str:
        """An RS256 Bot Framework token for the bot, optionally forged per ``switches``."""
        sw = switches or TokenSwitches()
        now = int(time.time())
        claims = {
            "iss": "https://evil.example" if sw.wrong_issuer else BOTFRAMEWORK_ISSUER,
            "aud": "some-other-app" if sw.wrong_audience else self.app_id,
            "serviceurl": "https://smba.evil.example/amer/"
            if sw.serviceurl_mismatch
            else (service_url or self.service_url),
            "nbf": now - 3600 if sw.expired else now - 5,
            "exp": now - 1800 if sw.expired else now + 3600,
        }
        key = self._wrong_key if sw.wrong_key else self._webchat_key if sw.webchat_key else self._key
        kid = self.webchat_kid if sw.webchat_key else self.kid
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})

    # activity builders ---------------------------------------------------------------

    def _base_activity(self, kind: str, user: TeamsUser, conversation: Conversation) -> dict[str, Any]:
        return {
            "type": kind,
            "id": f"1{secrets.randbelow(10**12):012d}",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "serviceUrl": self.service_url,
            "channelId": "msteams",
            "from": {"id": user.id, "name": user.name, "aadObjectId": user.aad_object_id},
            "conversation": {
                "id": conversation.id,
                "conversationType": conversation.conversation_type,
                "tenantId": conversation.tenant_id,
            },
            "recipient": {"id": f"28:{self.app_id}", "name": "Pluto"},
            "channelData": {"tenant": {"id": conversation.tenant_id}},
            "locale": "en-US",
        }

    def message(
        self, user: TeamsUser, text: str, *, reply_to_id: str | None = None, mention_bot: bool = False
    ) -> dict[str, Any]:
        """A personal-chat message from ``user`` (optionally a reply, or @-mentioning the bot)."""
        activity = self._base_activity("message", user, self.personal_conversation(user))
        activity["textFormat"] = "plain"
        if mention_bot:
            text = f"<at>Pluto</at> {text}"
            activity["entities"] = [
                {
                    "type": "mention",
                    "text": "<at>Pluto</at>",
                    "mentioned": {"id": f"28:{self.app_id}", "name": "Pluto"},
                }
            ]
        activity["text"] = text
        if reply_to_id:
            activity["replyToId"] = reply_to_id
        return activity

    def channel_message(
        self, user: TeamsUser, text: str, *, channel: str = "19:general@thread.tacv2"
    ) -> dict[str, Any]:
        """A message from ``user`` in a team channel where the bot is added (the whole team
        reads what the bot answers there)."""
        conv = self.conversations.get(channel)
        if conv is None:
            conv = Conversation(id=channel, tenant_id=self.tenant_id, conversation_type="channel", members=[])
            self.conversations[channel] = conv
        activity = self._base_activity("message", user, conv)
        activity["textFormat"] = "plain"
        activity["text"] = text
        return activity

    def installation_update(self, user: TeamsUser, action: str = "add") -> dict[str, Any]:
        """The app was installed (``add``) or removed (``remove``) for ``user``."""
        user.installed = action.startswith("add")
        activity = self._base_activity("installationUpdate", user, self.personal_conversation(user))
        activity["action"] = action
        return activity

    def conversation_update(self, user: TeamsUser, *, bot_added: bool = True) -> dict[str, Any]:
        """Members were added to the personal chat (the bot, when ``bot_added``)."""
        activity = self._base_activity("conversationUpdate", user, self.personal_conversation(user))
        activity["membersAdded"] = [{"id": f"28:{self.app_id}"}] if bot_added else [{"id": user.id}]
        return activity

    def card_submit(self, user: TeamsUser, data: dict[str, Any], *, reply_to_id: str) -> dict[str, Any]:
        """An ``Action.Submit`` press: a message with ``value`` and no text."""
        activity = self._base_activity("message", user, self.personal_conversation(user))
        activity["value"] = data
        activity["replyToId"] = reply_to_id
        return activity

    def card_action(
        self, user: TeamsUser, *, verb: str, data: dict[str, Any], reply_to_id: str
    ) -> dict[str, Any]:
        """An ``Action.Execute`` press: the ``adaptiveCard/action`` invoke."""
        activity = self._base_activity("invoke", user, self.personal_conversation(user))
        activity["name"] = "adaptiveCard/action"
        activity["value"] = {
            "action": {"type": "Action.Execute", "verb": verb, "data": data},
            "trigger": "manual",
        }
        activity["replyToId"] = reply_to_id
        return activity

    def button_press(
        self, user: TeamsUser, message_id: str, title: str, inputs: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """What the Teams client sends when ``user`` fills ``inputs`` (input id -> text) and
        presses the button titled ``title`` on the card of the bot's message ``message_id``:
        the ``adaptiveCard/action`` invoke for ``Action.Execute``, a message with ``value``
        for ``Action.Submit``. As the client does, it merges the action's ``data`` with the
        inputs the action gathers (``associatedInputs``: all of the card's, or none) and
        refuses (``CardRefused``) while a gathered input marked ``isRequired`` is empty."""
        conversation = self.personal_conversation(user)
        message = conversation.activities.get(message_id)
        if message is None or message_id in conversation.deleted:
            raise CardRefused(f"no message {message_id} in {user.name}'s chat")
        cards = [
            a.get("content") or {}
            for a in message.get("attachments") or []
            if isinstance(a, dict) and a.get("contentType") == CARD_CONTENT_TYPE
        ]
        action = next((a for card in cards for a in card.get("actions") or [] if a.get("title") == title), None)
        if action is None:
            raise CardRefused(f"the message shows no button {title!r}")
        if action.get("type") not in ("Action.Execute", "Action.Submit"):
            raise CardRefused(f"{title!r} is a {action.get('type')}: the client handles it, the bot hears nothing")
        fields = {i["id"]: i for card in cards for i in _inputs(card.get("body") or [])}
        unknown = set(inputs or {}) - set(fields)
        if unknown:
            raise CardRefused(f"the card has no input {sorted(unknown)}")
        gathered = {} if str(action.get("associatedInputs", "auto")).lower() == "none" else fields
        values = {key: (inputs or {}).get(key, field.get("value", "")) for key, field in gathered.items()}
        missing = [key for key, value in values.items() if gathered[key].get("isRequired") and not value.strip()]
        if missing:
            raise CardRefused(f"required input {missing} is empty: {gathered[missing[0]].get('errorMessage', '')}")
        data = action.get("data")
        merged = {**(data if isinstance(data, dict) else {}), **values}
        if action["type"] == "Action.Submit":
            return self.card_submit(user, merged, reply_to_id=message_id)
        return self.card_action(user, verb=str(action.get("verb") or ""), data=merged, reply_to_id=message_id)

    async def push(
        self, activity: dict[str, Any], *, switches: TokenSwitches | None = None
    ) -> tuple[int, Any]:
        """POST a signed Activity to the bot; returns (HTTP status, parsed body or None)."""
        if self.bot_endpoint is None or self._session is None:
            raise RuntimeError("start() the sandbox and set bot_endpoint first")
        headers = {"Content-Type": "application/json"}
        if not (switches and switches.missing_header):
            headers["Authorization"] = (
                f"Bearer {self.mint_token(service_url=activity.get('serviceUrl'), switches=switches)}"
            )
        async with self._session.post(self.bot_endpoint, data=json.dumps(activity), headers=headers) as resp:
            text = await resp.text()
            try:
                body = json.loads(text) if text else None
            except ValueError:
                body = text
        if activity.get("type") == "invoke" and isinstance(body, dict) and body.get("type") == CARD_CONTENT_TYPE:
            # Teams draws the answered card in place of the pressed one: it must be valid.
            self.validation_errors += [f"invoke card: {e}" for e in self.validate_card(body.get("value"))]
        return resp.status, body

    # middleware: recording, auth, injection, throttling -------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        raw = await request.read()
        body: Any
        if request.content_type == "application/x-www-form-urlencoded":
            # The token form carries the app's secret: never keep it.
            body = {k: v for k, v in (await request.post()).items() if k != "client_secret"}
        else:
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
        rec = Recorded(
            method=request.method,
            path=request.path,
            headers=dict(request.headers),
            query=dict(request.query),
            body=body,
            conversation=request.match_info.get("cid"),
            at=time.monotonic(),
        )
        self.requests.append(rec)
        if request.path.startswith("/v3/"):
            response = self._check_connector(request, rec, raw)
            if response is None:
                request[_BODY] = body
                response = await handler(request)
        else:
            response = await handler(request)
        rec.status = response.status
        self._changes.notify()
        return response

    def _check_connector(self, request: web.Request, rec: Recorded, raw: bytes) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        if self._issued.get(token, 0) <= time.time():
            return _error(401, "Unauthorized", "Authorization has been denied for this request.")
        if request.method in ("POST", "PUT") and len(raw) > self.max_activity_bytes:
            return _error(413, "RequestEntityTooLarge", f"Message size {len(raw)} bytes is too large.")
        inj = self._faults.take(
            lambda f: (not f.method or f.method == request.method)
            and (not f.conversation or f.conversation == rec.conversation)
        )
        if inj is not None:
            headers = {"Retry-After": _fmt(inj.retry_after)} if inj.retry_after is not None else {}
            return _error(inj.status, _CODES.get(inj.status, "ServiceError"), "injected failure", headers)
        if self.enforce_limits:
            counted = [(_APP, self.app_limits)]
            if rec.conversation and request.method in ("POST", "PUT"):
                counted.append((rec.conversation, self.limits))
            wait = self._throttle(counted)
            if wait > 0:
                self.throttled += 1
                return _error(429, "Throttled", "Too many requests", {"Retry-After": _fmt(wait)})
        return None

    def _throttle(self, counted: list[tuple[str, tuple[tuple[int, float], ...]]]) -> float:
        """Seconds to wait under the sliding windows of every key in ``counted`` (0 when
        the call may go; only calls that go are counted)."""
        now = time.monotonic()
        wait = 0.0
        windows = [
            self._windows.setdefault((key, count, window), SlidingWindow(count, window))
            for key, limits in counted
            for count, window in limits
        ]
        for each in windows:
            needed = each.wait_needed(now)
            if needed > 0:
                wait = max(wait, 0.05, needed)
        if wait == 0:
            for each in windows:
                each.hit(now)
        return wait

    # validation ---------------------------------------------------------------------

    def _validate(self, definition: str, body: Any) -> str | None:
        schema = {"$ref": f"#/definitions/{definition}", **self._definitions}
        problems = [e.message for e in jsonschema.Draft4Validator(schema).iter_errors(_without_nulls(body))]
        activity = (
            body.get("activity")
            if definition == "ConversationParameters" and isinstance(body, dict)
            else body
        )
        attachments = activity.get("attachments") if isinstance(activity, dict) else None
        for attachment in attachments or []:
            if isinstance(attachment, dict) and attachment.get("contentType") == CARD_CONTENT_TYPE:
                problems += [
                    f"card: {e.message}" for e in self._card_validator.iter_errors(attachment.get("content"))
                ]
        if problems:
            self.validation_errors.extend(problems)
            return "; ".join(problems)
        return None

    def validate_card(self, card: Any) -> list[str]:
        """Adaptive Card 1.5 schema violations of ``card`` (empty when valid)."""
        return [e.message for e in self._card_validator.iter_errors(card)]

    # endpoints: identity ------------------------------------------------------------

    async def _jwks(self, request: web.Request) -> web.Response:
        """The signing keys, each with the channels it is endorsed for (Bot Framework's
        ``endorsements``): a bot must check the activity's ``channelId`` is among them."""
        keys = []
        for key, kid, endorsements in (
            (self._key, self.kid, ["msteams"]),
            (self._webchat_key, self.webchat_kid, ["webchat", "directline"]),
        ):
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            jwk.update({"kid": kid, "use": "sig", "alg": "RS256", "endorsements": endorsements})
            keys.append(jwk)
        return web.json_response({"keys": keys})

    async def _openid(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": BOTFRAMEWORK_ISSUER,
                "authorization_endpoint": f"{self.base_url}/v1/botframework.com/oauth2/v2.0/authorize",
                "jwks_uri": self.jwks_url,
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            }
        )

    async def _token(self, request: web.Request) -> web.Response:
        form = dict((await request.post()).items())
        fields = {k: str(v) for k, v in form.items()}
        self.token_requests.append({k: v for k, v in fields.items() if k != "client_secret"})
        if fields.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        if fields.get("client_id") != self.app_id or fields.get("client_secret") != self.app_password:
            return web.json_response(
                {"error": "invalid_client", "error_description": "AADSTS7000215"}, status=401
            )
        if not fields.get("scope", "").endswith("/.default"):
            return web.json_response({"error": "invalid_scope"}, status=400)
        token = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        self._issued[token] = time.time() + self.token_lifetime
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime,
                "access_token": token,
            }
        )

    # endpoints: connector -----------------------------------------------------------

    async def _create_conversation(self, request: web.Request) -> web.Response:
        body = request[_BODY]
        problem = self._validate("ConversationParameters", body)
        if problem:
            return _error(400, "BadArgument", problem)
        members = [m.get("id", "") for m in body.get("members") or []]
        if body.get("isGroup") or len(members) != 1:
            return _error(400, "BadArgument", "only 1:1 conversations are supported here")
        user = self.users.get(members[0]) or next(
            (u for u in self.users.values() if u.aad_object_id == members[0]), None
        )
        if user is None:
            return _error(404, "NotFound", "user not found")
        if not user.installed:
            return _error(403, "Forbidden", "The bot is not installed for this user")
        conv = self.personal_conversation(user)
        return web.json_response({"id": conv.id}, status=201)

    def _conversation(self, request: web.Request) -> Conversation | web.Response:
        # A channel thread is addressed as "<channel>;messageid=<root>".
        conv = self.conversations.get(request.match_info["cid"].split(";")[0])
        if conv is None:
            return _error(404, "ConversationNotFound", "Conversation not found.")
        if not conv.bot_in:
            return _error(
                403, "BotNotInConversationRoster", "The bot is not part of the conversation roster."
            )
        if conv.conversation_type == "personal" and not all(
            self.users[m].installed for m in conv.members if m in self.users
        ):
            # The person removed the app: the bot left their chat's roster.
            return _error(
                403, "BotNotInConversationRoster", "The bot is not part of the conversation roster."
            )
        return conv

    def _store(self, conv: Conversation, body: dict[str, Any], reply_to: str | None) -> str:
        aid = f"1{secrets.randbelow(10**12):012d}"
        stored = dict(body, id=aid)
        if reply_to:
            stored["replyToId"] = reply_to
        conv.activities[aid] = stored
        return aid

    async def _send(self, request: web.Request) -> web.Response:
        conv = self._conversation(request)
        if isinstance(conv, web.Response):
            return conv
        problem = self._validate("Activity", request[_BODY])
        if problem:
            return _error(400, "BadArgument", problem)
        activity_id = self._store(conv, request[_BODY], None)
        if self.answer_delay:
            await asyncio.sleep(self.answer_delay)
        return web.json_response({"id": activity_id}, status=201)

    async def _reply(self, request: web.Request) -> web.Response:
        conv = self._conversation(request)
        if isinstance(conv, web.Response):
            return conv
        problem = self._validate("Activity", request[_BODY])
        if problem:
            return _error(400, "BadArgument", problem)
        return web.json_response(
            {"id": self._store(conv, request[_BODY], request.match_info["aid"])}, status=201
        )

    async def _update(self, request: web.Request) -> web.Response:
        conv = self._conversation(request)
        if isinstance(conv, web.Response):
            return conv
        aid = request.match_info["aid"]
        if aid not in conv.activities or aid in conv.deleted:
            return _error(404, "ActivityNotFound", "Activity not found.")
        problem = self._validate("Activity", request[_BODY])
        if problem:
            return _error(400, "BadArgument", problem)
        conv.activities[aid] = dict(request[_BODY], id=aid)
        return web.json_response({"id": aid})

    async def _delete(self, request: web.Request) -> web.Response:
        conv = self._conversation(request)
        if isinstance(conv, web.Response):
            return conv
        aid = request.match_info["aid"]
        if aid not in conv.activities or aid in conv.deleted:
            return _error(404, "ActivityNotFound", "Activity not found.")
        conv.deleted.add(aid)
        return web.Response(status=200)

    async def _members(self, request: web.Request) -> web.Response:
        conv = self._conversation(request)
        if isinstance(conv, web.Response):
            return conv
        members = [self.users[m] for m in conv.members if m in self.users]
        return web.json_response(
            [
                {"id": u.id, "name": u.name, "aadObjectId": u.aad_object_id, "tenantId": conv.tenant_id}
                for u in members
            ]
        )


_APP = "\x00app"  # the throttling key for app-wide limits; no conversation id looks like it

_CODES = {
    403: "Forbidden",
    404: "NotFound",
    412: "PreconditionFailed",
    413: "RequestEntityTooLarge",
    429: "Throttled",
    500: "ServiceError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


def _inputs(elements: list[Any]) -> list[dict[str, Any]]:
    """Every ``Input.*`` element in a card body, containers included."""
    found: list[dict[str, Any]] = []
    for element in elements:
        if not isinstance(element, dict):
            continue
        if str(element.get("type", "")).startswith("Input.") and element.get("id"):
            found.append(element)
        for key in ("items", "columns", "body"):
            if isinstance(element.get(key), list):
                found += _inputs(element[key])
    return found


def _fmt(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:.2f}"


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """The connector's ErrorResponse shape."""
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


async def _serve(args: argparse.Namespace) -> None:
    sandbox = SandboxTeams()
    url = await sandbox.start(args.port)
    await serve_forever(
        sandbox,
        f"sandbox Teams on {url} (serviceUrl {sandbox.service_url}, "
        f"token {sandbox.token_endpoint}, jwks {sandbox.jwks_url})",
    )


def main() -> None:
    """``python -m sandbox.teams --port N``: run the fake standalone."""
    run_main("Fake Microsoft Teams Bot Connector on 127.0.0.1", _serve)


if __name__ == "__main__":
    main()
