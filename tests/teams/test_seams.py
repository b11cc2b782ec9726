"""Fails loudly if the Agents SDK seams the adapter and these tests rely on move or vanish
(pinned microsoft-agents-* 1.9.*; re-check on every upgrade)."""

from __future__ import annotations

import inspect
from importlib.metadata import version

from microsoft_agents.activity import AdaptiveCardInvokeResponse, ConversationReference
from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.aiohttp._aiohttp_request_adapter import AiohttpRequestAdapter
from microsoft_agents.hosting.core import ChannelAdapter, TurnContext
from microsoft_agents.hosting.core.authorization import AccessTokenProviderBase, ConnectionManager
from microsoft_agents.hosting.core.channel_service_adapter import ChannelServiceAdapter
from microsoft_agents.hosting.core.connector import _utils as connector_utils

from adapters.teams import TeamsAdapter, build_connections


def test_sdk_version_is_the_pinned_one() -> None:
    for package in (
        "microsoft-agents-hosting-core",
        "microsoft-agents-hosting-aiohttp",
        "microsoft-agents-activity",
    ):
        assert version(package).startswith("1.9."), package


def test_connections_seam() -> None:
    assert "connection_manager" in inspect.signature(CloudAdapter.__init__).parameters
    params = inspect.signature(ConnectionManager.__init__).parameters
    assert {"provider_factory", "connections_configurations"} <= set(params)
    for name in ("get_access_token", "get_token_credential", "configuration"):
        assert hasattr(AccessTokenProviderBase, name), name


def test_inbound_seams() -> None:
    # We validate the token ourselves and hand the SDK its claims under this key.
    assert '"claims_identity"' in inspect.getsource(AiohttpRequestAdapter.get_claims_identity)
    # Setting on_turn_error to None makes connector errors propagate to send()/edit().
    assert "self.on_turn_error is not None" in inspect.getsource(ChannelAdapter.run_pipeline)
    assert ChannelAdapter.INVOKE_RESPONSE_KEY
    assert set(AdaptiveCardInvokeResponse.model_fields) >= {"status_code", "type", "value"}


def test_outbound_seams() -> None:
    params = inspect.signature(ChannelServiceAdapter.continue_conversation).parameters
    assert list(params)[1:] == ["agent_app_id", "continuation_activity", "callback"]
    params = inspect.signature(ChannelServiceAdapter.create_conversation).parameters
    assert list(params)[1:] == [
        "agent_app_id",
        "channel_id",
        "service_url",
        "audience",
        "conversation_parameters",
        "callback",
    ]
    assert callable(ConversationReference.get_continuation_activity)
    for name in ("send_activity", "update_activity", "delete_activity"):
        assert callable(getattr(TurnContext, name)), name
    # Errors reach us as aiohttp.ClientResponseError carrying status and headers (Retry-After).
    assert "ClientResponseError" in inspect.getsource(connector_utils._handle_request_error)


def test_production_configuration_builds_offline() -> None:
    """Without connections given the adapter uses MSAL; building it must not touch the network."""
    connections = build_connections(app_id="11111111-2222", app_password="s", tenant_id="t")
    assert isinstance(connections, MsalConnectionManager)
    TeamsAdapter(app_id="11111111-2222", app_password="s", tenant_id="t")
