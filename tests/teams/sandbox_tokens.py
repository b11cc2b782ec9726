"""Outbound Teams tokens from the sandbox: a client-credentials provider for the SDK.

Production gets its tokens through the SDK's MSAL connection manager from Microsoft Entra
ID, which takes only https authorities and asks login.microsoftonline.com for instance
discovery, so it cannot be pointed at the sandbox. The tests give the adapter (and the
bridge process, through ``tests.teams.bridge_main``) these ``Connections`` instead: the
same SDK seam, fetching tokens from the sandbox's token endpoint.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from azure.core.credentials import AccessToken
from microsoft_agents.hosting.core.authorization import (
    AccessTokenProviderBase,
    AgentAuthConfiguration,
    ConnectionManager,
    Connections,
)

from bridge.ports import PermanentError, TransientError
from sandbox.teams import SandboxTeams

TOKEN_REFRESH_MARGIN = 120.0


class TokenError(PermanentError):
    """The token endpoint refused to issue an outbound token (bad credentials or scope)."""


@dataclass(slots=True)
class _Cached:
    token: str
    expires_on: float


class ClientCredentialsTokenProvider(AccessTokenProviderBase):
    """OAuth2 client-credentials token provider for the SDK's ``Connections`` seam.

    Tokens are cached per scope until ``TOKEN_REFRESH_MARGIN`` seconds before they
    expire; concurrent callers share one request (MSAL does the same in production).
    """

    def __init__(
        self, configuration: AgentAuthConfiguration, token_endpoint: str, timeout: float = 30.0
    ) -> None:
        self._configuration = configuration
        self._endpoint = token_endpoint
        self._timeout = timeout
        self._cache: dict[tuple[str, ...], _Cached] = {}
        self._lock = asyncio.Lock()

    @property
    def configuration(self) -> AgentAuthConfiguration:
        """The connection settings (client id, secret, tenant) this provider uses."""
        return self._configuration

    async def get_access_token(
        self, resource_url: str, scopes: list[str], force_refresh: bool = False
    ) -> str:
        """Return a cached bearer token for ``scopes``, fetching one when needed."""
        return (await self.get_access_token_with_expiry(resource_url, scopes, force_refresh)).token

    async def get_access_token_with_expiry(
        self, resource_url: str, scopes: list[str], force_refresh: bool = False
    ) -> AccessToken:
        """Like ``get_access_token`` but also returns the expiry (epoch seconds)."""
        key = tuple(scopes) or (f"{resource_url.rstrip('/')}/.default",)
        async with self._lock:
            cached = self._cache.get(key)
            if cached is None or force_refresh or cached.expires_on - TOKEN_REFRESH_MARGIN <= time.time():
                cached = await self._fetch(" ".join(key))
                self._cache[key] = cached
            return AccessToken(cached.token, int(cached.expires_on))

    async def _fetch(self, scope: str) -> _Cached:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._configuration.CLIENT_ID or "",
            "client_secret": self._configuration.CLIENT_SECRET or "",
            "scope": scope,
        }
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout)) as session:
                async with session.post(self._endpoint, data=form) as resp:
                    body = await resp.json(content_type=None)
                    if resp.status == 429 or resp.status >= 500:
                        raise TransientError(f"token endpoint answered {resp.status}")
                    if resp.status != 200:
                        error = body.get("error", "") if isinstance(body, dict) else ""
                        raise TokenError(f"token endpoint answered {resp.status} {error}".strip())
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise TransientError(f"token endpoint unreachable: {type(exc).__name__}") from exc
        return _Cached(str(body["access_token"]), time.time() + float(body.get("expires_in", 3599)))

    def get_token_credential(self) -> _ProviderCredential:
        """An azure-core ``AsyncTokenCredential`` view of this provider."""
        return _ProviderCredential(self)

    # The protocol's user/agentic flows need MSAL; a client-credentials bot has none.
    async def acquire_token_on_behalf_of(self, scopes: list[str], user_assertion: str) -> str:
        """Unsupported: on-behalf-of needs MSAL (production ``MsalConnectionManager``)."""
        raise TokenError("on-behalf-of tokens are not available with client credentials")

    async def get_agentic_application_token(self, tenant_id: str, agent_app_instance_id: str) -> str | None:
        """Unsupported: agentic identities need MSAL."""
        raise TokenError("agentic tokens are not available with client credentials")

    async def get_agentic_instance_token(self, tenant_id: str, agent_app_instance_id: str) -> tuple[str, str]:
        """Unsupported: agentic identities need MSAL."""
        raise TokenError("agentic tokens are not available with client credentials")

    async def get_agentic_user_token(
        self, tenant_id: str, agent_app_instance_id: str, agentic_user_id: str, scopes: list[str]
    ) -> str | None:
        """Unsupported: agentic identities need MSAL."""
        raise TokenError("agentic tokens are not available with client credentials")


class _ProviderCredential:
    """``AsyncTokenCredential`` backed by ``ClientCredentialsTokenProvider``'s cache."""

    def __init__(self, provider: ClientCredentialsTokenProvider) -> None:
        self._provider = provider

    async def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        return await self._provider.get_access_token_with_expiry("", list(scopes))

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> _ProviderCredential:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None


def build_connections(
    *, app_id: str, app_password: str, tenant_id: str | None, token_endpoint: str | None
) -> Connections:
    """The SDK ``Connections`` for outbound tokens: ours against ``token_endpoint`` when
    given (the sandbox), else the SDK's MSAL manager (production)."""
    config = AgentAuthConfiguration(client_id=app_id, tenant_id=tenant_id, client_secret=app_password)
    if token_endpoint is not None:
        endpoint = token_endpoint
        return ConnectionManager(
            provider_factory=lambda cfg: ClientCredentialsTokenProvider(cfg, endpoint),
            connections_configurations={"SERVICE_CONNECTION": config},
        )
    from microsoft_agents.authentication.msal import MsalConnectionManager

    return MsalConnectionManager(connections_configurations={"SERVICE_CONNECTION": config})


def sandbox_connections(*, app_id: str, app_password: str, tenant_id: str | None, token_endpoint: str) -> Connections:
    """The SDK ``Connections`` for outbound tokens from ``token_endpoint`` (the sandbox's)."""
    config = AgentAuthConfiguration(client_id=app_id, tenant_id=tenant_id, client_secret=app_password)
    return ConnectionManager(
        provider_factory=lambda cfg: ClientCredentialsTokenProvider(cfg, token_endpoint),
        connections_configurations={"SERVICE_CONNECTION": config},
    )


def connections_for(sandbox: SandboxTeams, *, app_password: str | None = None) -> Connections:
    """``sandbox_connections`` with the sandbox's app credentials (``app_password``: another secret)."""
    return sandbox_connections(
        app_id=sandbox.app_id,
        app_password=sandbox.app_password if app_password is None else app_password,
        tenant_id=sandbox.tenant_id,
        token_endpoint=sandbox.token_endpoint,
    )
