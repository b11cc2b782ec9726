"""Teams tokens: the outbound MSAL connection manager and the inbound Bot Connector token
validation (signature, issuer, audience, lifetime, key endorsements)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import jwt
from microsoft_agents.hosting.core.authorization import AgentAuthConfiguration, Connections

BOTFRAMEWORK_JWKS_URL = "https://login.botframework.com/v1/.well-known/keys"
CLOCK_SKEW_SECONDS = 300


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
