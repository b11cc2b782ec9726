"""Microsoft Teams adapter on the Microsoft 365 Agents SDK 1.9.

Inbound, Teams (the Bot Connector) POSTs signed Activities to ``messages_path``; we
validate the bearer token ourselves (PyJWT ``PyJWKClient``, per adapter instance, so no
module-level SDK dict is patched) including the ``serviceurl`` claim the SDK skips, then
hand the request to the SDK's ``CloudAdapter``, whose turn hands each event to the core's
runner as an ``Interaction`` (Teams' HTTP answer follows the journal write; a card action's
answer carries the core's reply). Outbound, every call goes through the
SDK's connector client against the conversation's stored ``serviceUrl``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import jwt
from aiohttp import web
from aiohttp.web_exceptions import NotAppKeyWarning
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import TurnContext
from microsoft_agents.hosting.core.authorization import AuthenticationConstants, ClaimsIdentity, Connections

from adapters.teams.auth import (
    BOTFRAMEWORK_JWKS_URL,
    InboundTokenValidator,
    Verified,
    _same_service_url,
    build_connections,
)
from adapters.teams.inbound import TeamsInbound
from bridge.inbound.runner import Runner
from bridge.model import Capabilities, Markup, Pace, Platform
from bridge.ports import EventSink
from bridge.profile import Profile
from bridge.render.measure import json_bytes

log = logging.getLogger(__name__)

GLOBAL_SERVICE_URL = "https://smba.trafficmanager.net/teams/"
MAX_TEXT_BYTES = 22 * 1024  # of the activity's ~28 KB; the rest is envelope, preview and card


class TeamsAdapter(TeamsInbound):
    """Microsoft Teams behind the bridge contract.

    Keyword-only arguments:
      app_id: the bot's Microsoft App ID (audience of inbound tokens, client id outbound).
      app_password: the app's client secret (never logged).
      tenant_id: the tenant(s) the bot serves: the first is the app's own tenant for
        outbound tokens; activities from any other tenant are refused. None: any tenant
        (a multi-tenant bot).
      allowed_channels: the ``channelId`` values accepted (Teams only by default: Web Chat
        or Direct Line clients set the sender's id themselves).
      connections: the SDK ``Connections`` that issue outbound tokens; None builds the
        SDK's MSAL connection manager against Microsoft Entra ID (production). Tests
        give one that fetches tokens from the sandbox.
      jwks_url: JWKS for inbound token signatures; None uses Bot Framework's.
      issuer: the required ``iss`` of inbound tokens.
      messages_path: where Teams POSTs Activities on the bridge's web server.
      service_url: connector URL for creating a personal conversation when the stored
        address carries none; the global Teams URL by default.
      timeout: seconds for one outbound connector call before it counts as transient.
    """

    platform = Platform.TEAMS
    # Teams throttles sliding windows, which the core paces exactly: per conversation 7/1 s,
    # 8/2 s, 60/30 s, 1800/3600 s; per app 50/s (48: room for a conversation's creation).
    # A bot's message may carry about 28 KB, everything included. The text is measured as
    # the bytes of its JSON string (non-ASCII escaped: 6 bytes a BMP character, 12 an emoji),
    # and MAX_TEXT_BYTES leaves the rest for the envelope, a 200-character preview and a
    # card of five buttons (test_longest_post_fits_the_payload_limit).
    capabilities = Capabilities(
        markup=Markup.TEAMS_HTML,
        max_text=MAX_TEXT_BYTES,
        measure=json_bytes,
        max_actions=5,
        per_room=(Pace(7, 1), Pace(8, 2), Pace(60, 30), Pace(1800, 3600)),
        overall=(Pace(48, 1),),
        threads=False,
        edits=True,
    )
    profile = Profile(Platform.TEAMS, "Teams", capabilities, "")  # commands are typed as words

    def __init__(
        self,
        *,
        app_id: str,
        app_password: str,
        tenant_id: str | Sequence[str] | None = None,
        allowed_channels: Sequence[str] = ("msteams",),
        connections: Connections | None = None,
        jwks_url: str | None = None,
        issuer: str = "https://api.botframework.com",
        messages_path: str = "/api/messages",
        service_url: str = GLOBAL_SERVICE_URL,
        timeout: float = 30.0,
    ) -> None:
        self._app_id = app_id
        self._bot_id = f"28:{app_id}"
        self._messages_path = messages_path
        self._default_service_url = service_url
        self._timeout = timeout
        tenants = [tenant_id] if isinstance(tenant_id, str) else list(tenant_id or [])
        self._tenants = frozenset(t.casefold() for t in tenants)
        self._channels = frozenset(allowed_channels)
        self._validator = InboundTokenValidator(
            app_id=app_id, jwks_url=jwks_url or BOTFRAMEWORK_JWKS_URL, issuer=issuer
        )
        if connections is None:
            connections = build_connections(
                app_id=app_id, app_password=app_password, tenant_id=tenants[0] if tenants else None
            )
        self._cloud = CloudAdapter(connection_manager=connections)
        # Without this the SDK swallows connector errors and posts "Exception caught" to the user.
        self._cloud.on_turn_error = None
        self._agent = _Agent(self)
        self._runner: Runner | None = None

    # lifecycle ----------------------------------------------------------------------

    def web_routes(self) -> list[web.RouteDef]:
        """``POST messages_path``: the Bot Connector's messaging endpoint."""
        return [web.post(self._messages_path, self._handle_request)]

    async def start(self, sink: EventSink) -> None:
        """Begin accepting Activities; Teams pushes them, so nothing to connect."""
        self._runner = Runner.of(sink)

    async def stop(self) -> None:
        """Stop accepting Activities and cancel this platform's inbound work; safe twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.stop(self.platform)  # unfinished events stay journalled

    # inbound ------------------------------------------------------------------------

    async def _handle_request(self, request: web.Request) -> web.StreamResponse:
        if self._runner is None:
            return web.json_response({"error": "not started"}, status=503)
        try:
            verified = await self._validator.validate(request.headers.get("Authorization"))
        except (jwt.PyJWTError, ValueError) as exc:
            log.warning("Teams request refused: %s", type(exc).__name__)
            return web.json_response({"error": "Invalid token or authentication failed."}, status=401)
        claims = verified.claims
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "invalid JSON"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "an Activity must be a JSON object"}, status=400)
        # The SDK does not bind the token to the activity's serviceUrl; we must.
        if not _same_service_url(claims.get(AuthenticationConstants.SERVICE_URL_CLAIM), body.get("serviceUrl")):
            log.warning("Teams request refused: serviceurl claim does not match the activity")
            return web.json_response({"error": "Invalid token or authentication failed."}, status=401)
        refusal = self._refusal(body, verified)
        if refusal is not None:
            return refusal
        with warnings.catch_warnings(category=NotAppKeyWarning, action="ignore"):
            # The SDK reads this plain string key (AiohttpRequestAdapter.get_claims_identity).
            request["claims_identity"] = ClaimsIdentity(claims, authentication_type="Bearer")
        response = await self._cloud.process(request, self._agent)
        return response if response is not None else web.Response(status=202)

    def _refusal(self, body: dict[str, Any], verified: Verified) -> web.Response | None:
        """Bot Framework's rules beyond the signature: the activity's channel must be one we
        serve and one its signing key is endorsed for; its tenant must be one we serve; its
        sender must carry an Entra object id (``from.id`` alone can be set by the client on
        other channels)."""
        channel = str(body.get("channelId") or "")
        if channel not in self._channels:
            log.warning("Teams request refused: channel %r is not served", channel)
            return web.json_response({"error": "channel not served"}, status=403)
        if channel not in verified.endorsements:
            log.warning("Teams request refused: the signing key is not endorsed for channel %r", channel)
            return web.json_response({"error": "Invalid token or authentication failed."}, status=401)
        data_tenant = _object(_object(body.get("channelData")).get("tenant"))
        tenant = str(_object(body.get("conversation")).get("tenantId") or data_tenant.get("id") or "")
        if self._tenants and tenant.casefold() not in self._tenants:
            log.warning("Teams request refused: tenant %r is not served", tenant)
            return web.json_response({"error": "tenant not served"}, status=403)
        sender = _object(body.get("from"))
        if body.get("type") in ("message", "invoke") and not (sender.get("aadObjectId") and tenant):
            log.warning("Teams request refused: the sender has no Entra object id or tenant")
            return web.json_response({"error": "sender not identified"}, status=403)
        return None


class _Agent:
    """The SDK ``Agent`` protocol: hands every turn to the adapter."""

    def __init__(self, adapter: TeamsAdapter) -> None:
        self._adapter = adapter

    async def on_turn(self, context: TurnContext) -> None:
        await self._adapter.on_turn(context)


def _object(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (a malformed body)."""
    return value if isinstance(value, dict) else {}
