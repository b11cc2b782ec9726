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

import asyncio
import dataclasses
import html
import logging
import random
import re
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import jwt
from aiohttp import web
from aiohttp.web_exceptions import NotAppKeyWarning
from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    AdaptiveCardInvokeResponse,
    Attachment,
    ChannelAccount,
    ConversationParameters,
    ConversationReference,
    InvokeResponse,
)
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import TurnContext
from microsoft_agents.hosting.core.authorization import (
    AgentAuthConfiguration,
    AuthenticationConstants,
    ClaimsIdentity,
    Connections,
)

from bridge.inbound.interaction import Interaction
from bridge.inbound.parse import parse_command
from bridge.inbound.runner import Runner
from bridge.model import (
    COMMAND_NAMES,
    COMMANDS,
    ActionEvent,
    Capabilities,
    ChatEvent,
    ChatIdentity,
    CommandEvent,
    ContactEvent,
    Destination,
    Markup,
    MessageEvent,
    Pace,
    Platform,
    Post,
    Reply,
    SentRef,
)
from bridge.ports import (
    Adapter,
    DeliveryError,
    EventSink,
    PermanentError,
    RateLimited,
    RecipientUnreachable,
    TransientError,
)
from bridge.profile import Profile
from bridge.render import to_plain
from bridge.render.document import BOLD, CODE, ITALIC, LINK, STRIKE, UNDERLINE, Run, line_text, parse
from bridge.render.measure import json_bytes

log = logging.getLogger(__name__)

BOTFRAMEWORK_JWKS_URL = "https://login.botframework.com/v1/.well-known/keys"
GLOBAL_SERVICE_URL = "https://smba.trafficmanager.net/teams/"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
MESSAGE_RESPONSE_TYPE = "application/vnd.microsoft.activity.message"
CARD_VERB = "pluto"
REASON_INPUT_ID = "reason"
REASON_MAX_CHARS = 1000
CLOCK_SKEW_SECONDS = 300
SUMMARY_CHARS = 200
MAX_TEXT_BYTES = 22 * 1024  # of the activity's ~28 KB; the rest is envelope, preview and card
ACK_DEADLINE = 5.0  # seconds: an Activity's HTTP answer waits at most this long for the journal
INVOKE_WAIT = 10.0  # seconds a card action waits for the core's reply (Teams shows an error after ~15 s)
REPLY_ATTEMPTS = 4  # a reply to a person is tried this often when Teams throttles it
REPLY_MAX_WAIT = 10.0  # seconds; a longer Retry-After is capped (the person waits on it)
_AT_TAG = re.compile(r"<at(?:\s[^>]*)?>(.*?)</at>", re.IGNORECASE | re.DOTALL)
_STYLE = {"primary": "positive", "danger": "destructive"}


# --- outbound token ------------------------------------------------------------------


def build_connections(*, app_id: str, app_password: str, tenant_id: str | None) -> Connections:
    """The SDK's MSAL connection manager for outbound tokens from Microsoft Entra ID.
    Building it touches no network; tokens are fetched on the first send."""
    from microsoft_agents.authentication.msal import MsalConnectionManager

    config = AgentAuthConfiguration(client_id=app_id, tenant_id=tenant_id, client_secret=app_password)
    return MsalConnectionManager(connections_configurations={"SERVICE_CONNECTION": config})


# --- inbound token -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verified:
    """A valid inbound token's claims and the channels its signing key is endorsed for."""

    claims: dict[str, Any]
    endorsements: frozenset[str]


class InboundTokenValidator:
    """Validates the Bot Connector's bearer token: RS256 signature by ``kid`` against the
    JWKS, issuer, audience == app id, exp/nbf with 5 minutes' skew. It also reports the
    signing key's ``endorsements``: Bot Framework signs each channel's activities with keys
    endorsed for that channel, and a bot must check the activity's channel is among them."""

    def __init__(self, *, app_id: str, jwks_url: str, issuer: str) -> None:
        self._app_id = app_id
        self._issuer = issuer
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, timeout=10)

    async def validate(self, authorization: str | None) -> Verified:
        """Return the verified claims and endorsements; raise ``jwt.PyJWTError``/``ValueError``
        otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ValueError("missing bearer token")
        token = token.strip()
        # PyJWKClient fetches synchronously; keep the event loop free while it does.
        key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key.key,
            algorithms=["RS256"],
            audience=self._app_id,
            issuer=self._issuer,
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": ["exp", "nbf", "iss", "aud"]},
        )
        # PyJWK keeps the JWKS entry as given; "endorsements" is Bot Framework's own field.
        endorsements = getattr(key, "_jwk_data", {}).get("endorsements") or []
        return Verified(claims, frozenset(str(e) for e in endorsements if isinstance(e, str)))


def _same_service_url(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and str(a).rstrip("/").casefold() == str(b).rstrip("/").casefold()


# --- cards ---------------------------------------------------------------------------


def build_card(post: Post, *, with_text: bool) -> dict[str, Any]:
    """The Adaptive Card 1.5 for ``post``: ``Action.Execute`` per action (verb ``pluto``,
    data ``{"action": id}``), ``Action.OpenUrl`` for links, and an ``Input.Text`` for the
    reason when an action takes one. The reason stays optional, as Totara's own reason box
    is (domain 3.2); actions that take none (Dismiss) do not gather it. ``with_text`` draws
    the post's text in the card body (cards that replace a pressed card in an invoke
    response)."""
    body: list[dict[str, Any]] = card_text(post.text) if with_text else []
    asks_reason = any(a.needs_reason and not a.url for a in post.actions)
    if asks_reason:
        body.append(
            {
                "type": "Input.Text",
                "id": REASON_INPUT_ID,
                "label": "Reason",
                "placeholder": "Reason for your decision (optional)",
                "isMultiline": True,
                "maxLength": REASON_MAX_CHARS,
            }
        )
    actions: list[dict[str, Any]] = []
    for action in post.actions:
        item: dict[str, Any]
        if action.url:
            item = {"type": "Action.OpenUrl", "title": action.label, "url": action.url}
        else:
            item = {
                "type": "Action.Execute",
                "title": action.label,
                "verb": CARD_VERB,
                "data": {"action": action.id},
            }
            if asks_reason and not action.needs_reason:
                item["associatedInputs"] = "none"
        if action.style in _STYLE:
            item["style"] = _STYLE[action.style]
        actions.append(item)
    card: dict[str, Any] = {"type": "AdaptiveCard", "version": "1.5", "body": body}
    if actions:
        card["actions"] = actions
    return card


def card_text(teams_html: str) -> list[dict[str, Any]]:
    """Teams message HTML as card elements: one ``RichTextBlock`` per line, each run a
    ``TextRun`` carrying its marks. TextRuns take no Markdown (a TextBlock would turn a
    typed ``[x](url)`` or ``**x**`` into a link or bold), so text stays text."""
    elements: list[dict[str, Any]] = []
    for block in parse(teams_html):
        for n, line in enumerate(block.lines):
            inlines: list[dict[str, Any]] = []
            if block.pre:
                inlines = [{"type": "TextRun", "text": line_text(line), "fontType": "Monospace"}]
            else:
                lead = ("\u00a0\u00a0" * block.indent) + (block.bullet if n == 0 else "")
                if lead:
                    inlines.append({"type": "TextRun", "text": lead})
                inlines += [_text_run(run) for run in line if run.text]
            if not inlines:
                continue
            element: dict[str, Any] = {"type": "RichTextBlock", "inlines": inlines}
            if n > 0 or (block.tight and elements):
                element["spacing"] = "None"  # a line break, not a new paragraph
            elements.append(element)
    return elements


def _text_run(run: Run) -> dict[str, Any]:
    inline: dict[str, Any] = {"type": "TextRun", "text": run.text}
    for mark in run.marks:
        if mark.kind == BOLD:
            inline["weight"] = "Bolder"
        elif mark.kind == ITALIC:
            inline["italic"] = True
        elif mark.kind == UNDERLINE:
            inline["underline"] = True
        elif mark.kind == STRIKE:
            inline["strikethrough"] = True
        elif mark.kind == CODE:
            inline["fontType"] = "Monospace"
        elif mark.kind == LINK and mark.href:
            inline["selectAction"] = {"type": "Action.OpenUrl", "url": mark.href}
    return inline


def typed_text(text: str, text_format: str | None, mentions: Mapping[str, str]) -> str:
    """What the person typed, converted exactly once. Teams delivers typed text raw
    (``textFormat: plain``): only the ``<at>`` tags in ``mentions`` (those a mention entity
    vouches for) are markup, each replaced by its value (the bot's own by nothing);
    everything else, entities and tags typed by the person included, stays as typed. Text
    that says it is HTML (``textFormat: xml``) has its entities decoded, once."""
    if mentions:
        pattern = re.compile("|".join(re.escape(tag) for tag in sorted(mentions, key=len, reverse=True)))
        text = pattern.sub(lambda m: mentions[m.group(0)], text)
    if (text_format or "plain") == "xml":
        text = html.unescape(text)
    return text.strip()


def preview(text: str, limit: int = SUMMARY_CHARS) -> str:
    """``text`` on one line, cut to ``limit`` characters: the notification preview
    (``summary``). The whole text is in the message itself, and the payload limit counts both."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "\u2026"


def build_activity(post: Post) -> Activity:
    """The message Activity for ``post``: HTML text (``textFormat: xml``) plus a card
    attachment carrying the actions, if any."""
    activity = Activity(type=ActivityTypes.message, text=post.text, text_format="xml")
    if post.fallback:
        activity.summary = preview(post.fallback)
    if post.actions:
        activity.attachments = [
            Attachment(content_type=CARD_CONTENT_TYPE, content=build_card(post, with_text=False))
        ]
    else:
        activity.attachments = []
    if post.reply_to:
        activity.reply_to_id = post.reply_to
    return activity


def command_list() -> list[dict[str, str]]:
    """The bridge commands as a Teams app-manifest ``commandLists[].commands`` value
    (Teams has no API to publish a command menu; the manifest carries it)."""
    return [{"title": c.name, "description": c.description[:128]} for c in COMMANDS]


def app_manifest(*, app_id: str, name: str, public_url: str) -> dict[str, Any]:
    """A Teams app manifest (manifest.json of the app package, zipped with the two icons
    it names): a personal-scope bot with the command menu; the bot's messaging endpoint
    itself is set in its Azure Bot resource, ``public_url`` + ``/api/messages``."""
    host = urlsplit(public_url).hostname or public_url
    return {
        "$schema": "https://developer.microsoft.com/en-us/json-schemas/teams/v1.16/MicrosoftTeams.schema.json",
        "manifestVersion": "1.16",
        "version": "1.0.0",
        "id": app_id,
        "developer": {
            "name": name,
            "websiteUrl": public_url,
            "privacyUrl": public_url,
            "termsOfUseUrl": public_url,
        },
        "name": {"short": name[:30], "full": f"{name}: Pluto LMS messages, alerts and tasks"[:100]},
        "description": {
            "short": "Your Pluto messages, alerts and tasks in Teams",
            "full": "Read and answer your Pluto LMS messages, and handle alerts and tasks, from Teams.",
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": "#3B5BDB",
        "bots": [
            {
                "botId": app_id,
                "scopes": ["personal"],
                "supportsFiles": False,
                "isNotificationOnly": False,
                "commandLists": [{"scopes": ["personal"], "commands": command_list()}],
            }
        ],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [host],
    }


# --- errors --------------------------------------------------------------------------


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    """The Retry-After header in seconds, if Teams sent one."""
    value = (headers or {}).get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
    return None


def map_error(exc: BaseException) -> DeliveryError:
    """Translate an SDK/aiohttp failure into the adapter contract's exceptions."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, aiohttp.ClientResponseError):
        status = exc.status
        wait = _retry_after(exc.headers)
        if status == 429:
            if wait is None:
                # Microsoft asks for exponential back-off with jitter when no Retry-After is
                # given: this is the first step, the core doubles it while throttling lasts.
                return RateLimited(1.0 + random.uniform(0, 1.0), "Teams throttled this conversation (429)", given=False)
            return RateLimited(wait, "Teams throttled this conversation (429)")
        if status in (412, 502, 504) or status >= 500:
            return TransientError(f"Teams answered {status}", retry_after=wait or 0.0)
        if status == 403:
            return RecipientUnreachable("the Pluto app is not installed for this person (403)")
        if status == 404:
            return RecipientUnreachable("conversation gone (404)")
        if status == 413:
            return PermanentError("message too large for Teams (413)")
        return PermanentError(f"Teams refused the request ({status})")
    if isinstance(exc, (aiohttp.ClientError, TimeoutError, ConnectionError)):
        return TransientError(f"Teams unreachable: {type(exc).__name__}")
    return PermanentError(f"Teams call failed: {type(exc).__name__}: {exc}")


# --- the adapter ---------------------------------------------------------------------


class TeamsAdapter(Adapter):
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

    async def on_turn(self, context: TurnContext) -> None:
        """Translate one inbound Activity and hand it to the core's runner: Teams gets its
        answer once the event is journalled; invokes are answered inline with the reply."""
        activity = context.activity
        if activity.type == ActivityTypes.invoke:
            await self._on_invoke(context)
            return
        event = self.translate(activity)
        runner = self._runner
        if event is None or runner is None:
            return
        reference = self._reference(activity)

        async def answer(reply: Reply | None) -> None:
            if reply is not None:
                await self._show_reply(reply, reference)

        deadline = asyncio.get_running_loop().time() + ACK_DEADLINE
        await runner.submit(Interaction(event, answer=answer, deadline=deadline))

    def translate(self, activity: Activity) -> ChatEvent | None:
        """The ``ChatEvent`` for a non-invoke Activity, or None when it is not for the core."""
        sender = activity.from_property
        if sender is None or activity.conversation is None or not sender.aad_object_id:
            return None  # only Entra-identified people: the id a client cannot choose
        if sender.id in (self._bot_id, self._app_id) or (
            activity.recipient is not None and sender.id == activity.recipient.id
        ):
            return None  # our own message echoed back: never relay it
        common = self._common(activity)
        if activity.type == ActivityTypes.installation_update:
            if (activity.action or "").startswith("add"):
                return ContactEvent(**common)
            return None
        if activity.type == ActivityTypes.conversation_update:
            added = activity.members_added or []
            bot_ids = {self._bot_id, activity.recipient.id if activity.recipient else ""}
            if any(m.id in bot_ids for m in added):
                return ContactEvent(**common)
            return None
        if activity.type != ActivityTypes.message:
            return None
        value = activity.value
        if isinstance(value, dict) and isinstance(value.get("action"), str) and not activity.text:
            # Action.Submit (older clients fall back to it): the card's data plus inputs.
            return ActionEvent(
                **common,
                action_id=value["action"],
                reason=str(value.get(REASON_INPUT_ID) or "").strip(),
                message=SentRef(activity.conversation.id, activity.reply_to_id or "")
                if activity.reply_to_id
                else None,
            )
        text = self._plain_text(activity)
        if not text:
            return None
        if parse_command(text)[0] in COMMAND_NAMES:  # commands are typed as words here
            return CommandEvent(**common, text=text)
        return MessageEvent(**common, text=text, reply_to=activity.reply_to_id or None)

    def _common(self, activity: Activity) -> dict[str, Any]:
        sender = activity.from_property
        conversation = activity.conversation
        assert sender is not None and conversation is not None
        tenant = conversation.tenant_id or _channel_tenant(activity) or ""
        kind = conversation.conversation_type
        return {
            # Entra object id within the tenant: stable, and set by Teams, never by a client.
            "identity": ChatIdentity(Platform.TEAMS, tenant, sender.aad_object_id or ""),
            "event_id": activity.id or "",
            "room": conversation.id,
            "display_name": sender.name or "",
            "is_private": kind in (None, "personal"),
            "address": self._reference(activity).model_dump(mode="json", by_alias=True, exclude_none=True),
        }

    def _reference(self, activity: Activity) -> ConversationReference:
        ref = activity.get_conversation_reference()
        ref.activity_id = None
        ref.locale = None
        ref.request_id = None
        if ref.conversation is not None and not ref.conversation.tenant_id:
            ref.conversation.tenant_id = _channel_tenant(activity)
        return ref

    def _plain_text(self, activity: Activity) -> str:
        """What the person typed (see ``typed_text``); mention tags from the entities."""
        mentions: dict[str, str] = {}
        for entity in activity.entities or []:
            data = entity.model_dump(by_alias=True)
            mentioned = data.get("mentioned") or {}
            tag = str(data.get("text") or "")
            if entity.type == "mention" and tag:
                bot = mentioned.get("id") in (self._bot_id, self._app_id)
                mentions[tag] = "" if bot else "@" + (_AT_TAG.sub(r"\1", tag) or str(mentioned.get("name") or ""))
        return typed_text(activity.text or "", activity.text_format, mentions)

    async def _on_invoke(self, context: TurnContext) -> None:
        activity = context.activity
        response: AdaptiveCardInvokeResponse
        runner = self._runner
        if activity.name != "adaptiveCard/action" or runner is None:
            await _set_invoke_response(context, 501, None)
            return
        value = activity.value if isinstance(activity.value, dict) else {}
        action = value.get("action") or {}
        data = action.get("data") or {}
        if action.get("verb") != CARD_VERB or not isinstance(data.get("action"), str):
            response = AdaptiveCardInvokeResponse(
                status_code=400,
                type="application/vnd.microsoft.error",
                value={"code": "BadRequest", "message": "unknown action"},
            )
            await _set_invoke_response(context, 200, response)
            return
        conversation = activity.conversation
        assert conversation is not None
        event = ActionEvent(
            **self._common(activity),
            action_id=data["action"],
            reason=str(data.get(REASON_INPUT_ID) or "").strip(),
            message=SentRef(conversation.id, activity.reply_to_id) if activity.reply_to_id else None,
        )
        loop = asyncio.get_running_loop()
        answered: asyncio.Future[Reply | None] = loop.create_future()
        reference = self._reference(activity)

        async def answer(reply: Reply | None) -> None:
            if not answered.done():
                answered.set_result(reply)
            # Only new buttons need a message of their own (the card response says the rest).
            if reply is not None and reply.actions:
                await self._show_reply(Reply(texts=reply.texts[-1:], actions=reply.actions), reference)

        await runner.submit(Interaction(event, answer=answer, deadline=loop.time() + ACK_DEADLINE))
        try:  # the invoke's response carries the core's reply: wait for it (in the person's turn)
            reply = await asyncio.wait_for(asyncio.shield(answered), INVOKE_WAIT)
        except TimeoutError:
            log.warning("Teams card action %s: no answer within %.0fs", event.event_id, INVOKE_WAIT)
            response = AdaptiveCardInvokeResponse(
                status_code=500,
                type="application/vnd.microsoft.error",
                value={"code": "InternalError", "message": "the action could not be completed"},
            )
            await _set_invoke_response(context, 200, response)
            return
        if reply is not None and reply.replace is not None:
            # The answered card is Teams' way to answer a press and shows the outcome; the
            # texts as chat messages too would repeat it for good (no ephemeral messages in
            # Teams).
            response = AdaptiveCardInvokeResponse(
                status_code=200, type=CARD_CONTENT_TYPE, value=build_card(reply.replace, with_text=True)
            )
        else:
            # Teams shows a message response as plain text next to the card: no HTML tags.
            texts = reply.texts if reply is not None else ()
            response = AdaptiveCardInvokeResponse(
                status_code=200,
                type=MESSAGE_RESPONSE_TYPE,
                value="\n\n".join(to_plain(t) for t in texts),
            )
        await _set_invoke_response(context, 200, response)

    async def _show_reply(self, reply: Reply, reference: ConversationReference) -> None:
        """Teams has no ephemeral messages in a personal chat: replies are messages there."""
        texts = list(reply.texts) or ([""] if reply.actions else [])
        for i, text in enumerate(texts):
            actions = reply.actions if i == len(texts) - 1 else ()
            post = Post(text=text, actions=actions)
            for attempt in range(1, REPLY_ATTEMPTS + 1):
                try:
                    await self._send_with_reference(reference, post)
                    break
                except RateLimited as exc:
                    # Replies bypass the core's outbox pacing, so a busy chat may throttle
                    # them: wait as Teams asks (the runner's task, not the request) and try again.
                    if attempt == REPLY_ATTEMPTS:
                        log.warning("Teams reply not shown: %s", exc.reason)
                        return
                    await asyncio.sleep(min(exc.wait(attempt), REPLY_MAX_WAIT))
                except DeliveryError as exc:
                    log.warning("Teams reply not shown: %s", exc.reason)
                    return

    # outbound -----------------------------------------------------------------------

    async def send(self, dest: Destination, post: Post) -> SentRef:
        """Send into the person's chat: continue the stored conversation, or (no room)
        create the 1:1 conversation first with POST /v3/conversations."""
        reference = _stored_reference(dest, dest.room)
        if dest.room is None:
            reference = await self._create_conversation(dest, reference)
        return await self._send_with_reference(reference, post)

    async def _create_conversation(
        self, dest: Destination, reference: ConversationReference
    ) -> ConversationReference:
        tenant = dest.identity.workspace or (
            reference.conversation.tenant_id if reference.conversation else None
        )
        user_id = reference.user.id if reference.user is not None else dest.identity.user_id
        wire: dict[str, Any] = {"isGroup": False, "bot": {"id": self._bot_id}, "members": [{"id": user_id}]}
        if tenant:
            wire.update(tenantId=tenant, channelData={"tenant": {"id": tenant}})
        params = ConversationParameters.model_validate(wire)
        created: list[ConversationReference] = []

        async def capture(context: TurnContext) -> None:
            created.append(self._reference(context.activity))

        service_url = reference.service_url or self._default_service_url
        await self._call(
            self._cloud.create_conversation(
                self._app_id,
                "msteams",
                service_url,
                AuthenticationConstants.AGENTS_SDK_SCOPE,
                params,
                capture,
            )
        )
        new = created[0]
        new.user = reference.user or ChannelAccount(id=user_id)
        new.agent = reference.agent or ChannelAccount(id=self._bot_id)
        return new

    async def _send_with_reference(self, reference: ConversationReference, post: Post) -> SentRef:
        activity = build_activity(post)
        sent: list[str] = []

        async def callback(context: TurnContext) -> None:
            response = await context.send_activity(activity)
            sent.append(response.id if response is not None and response.id else "")

        await self._continue(reference, callback)
        conversation = reference.conversation.id if reference.conversation else ""
        return SentRef(room=conversation, message_id=sent[0] if sent else "")

    async def edit(self, dest: Destination, ref: SentRef, post: Post) -> None:
        """Replace a sent message (PUT activity) at the serviceUrl stored in ``dest``;
        ``post.actions == ()`` retires the card."""
        activity = build_activity(dataclasses.replace(post, reply_to=None))
        activity.id = ref.message_id

        async def callback(context: TurnContext) -> None:
            await context.update_activity(activity)

        await self._continue(_stored_reference(dest, ref.room), callback)

    async def delete(self, dest: Destination, ref: SentRef) -> None:
        """Delete a sent message (DELETE activity) at the serviceUrl stored in ``dest``."""

        async def callback(context: TurnContext) -> None:
            await context.delete_activity(ref.message_id)

        await self._continue(_stored_reference(dest, ref.room), callback)

    async def _continue(
        self, reference: ConversationReference, callback: Callable[[TurnContext], Awaitable[None]]
    ) -> None:
        activity = reference.get_continuation_activity()
        # The SDK would otherwise address every send as a reply to this synthetic id.
        activity.id = None
        await self._call(self._cloud.continue_conversation(self._app_id, activity, callback))

    async def _call(self, coro: Awaitable[Any]) -> Any:
        try:
            async with asyncio.timeout(self._timeout):
                return await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise map_error(exc) from exc


class _Agent:
    """The SDK ``Agent`` protocol: hands every turn to the adapter."""

    def __init__(self, adapter: TeamsAdapter) -> None:
        self._adapter = adapter

    async def on_turn(self, context: TurnContext) -> None:
        await self._adapter.on_turn(context)


def _stored_reference(dest: Destination, room: str | None) -> ConversationReference:
    """The conversation reference the core stored for ``dest`` (captured from an inbound
    Activity: serviceUrl, tenant, bot, user), pointed at ``room`` when given."""
    if not dest.address:
        raise PermanentError(
            "no stored Teams address for this person (they must message or install the app first)"
        )
    reference = ConversationReference.model_validate(dict(dest.address))
    if room is not None and reference.conversation is not None:
        reference.conversation.id = room
    return reference


def _object(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (a malformed body)."""
    return value if isinstance(value, dict) else {}


def _channel_tenant(activity: Activity) -> str | None:
    data = activity.channel_data
    if isinstance(data, dict):
        tenant = data.get("tenant")
        if isinstance(tenant, dict) and tenant.get("id"):
            return str(tenant["id"])
    return None


async def _set_invoke_response(
    context: TurnContext, status: int, body: AdaptiveCardInvokeResponse | None
) -> None:
    payload = body.model_dump(mode="json", by_alias=True, exclude_none=True) if body is not None else None
    await context.send_activity(
        Activity(type=ActivityTypes.invoke_response, value=InvokeResponse(status=status, body=payload))
    )
