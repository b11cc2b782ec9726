"""The OpenAPI 3.1 document of the Send Message API, served at ``/api/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

from bridge import __version__
from bridge.api.request import DELIVER, FORMATS, MAX_BUTTONS, MAX_LABEL, MAX_RECIPIENTS, MAX_TEXT, MAX_URL

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "problems": {"type": "array", "items": {"type": "string"}}},
}


def _error(description: str, **headers: Any) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if headers:
        response["headers"] = headers
    return response


_RETRY_AFTER = {"description": "Seconds to wait before the next request", "schema": {"type": "integer"}}
_OUTCOME = {
    "type": "object",
    "required": ["status", "reason"],
    "properties": {
        "status": {
            "type": "string",
            "enum": ["pending", "delivered", "via_pluto", "not_linked", "muted", "refused", "unknown"],
        },
        "reason": {"type": "string"},
    },
}


def document() -> dict[str, Any]:
    """The whole document (a new dict on each call)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Pluto Bridge Send Message API",
            "version": __version__,
            "description": "Send a message to Pluto users in their chat (through their own link and "
            "preferences) and/or into Pluto as the API key's sender account.",
        },
        "servers": [{"url": "/"}],
        "security": [{"apiKey": []}],
        "paths": {
            "/api/v1/messages": {
                "post": {
                    "operationId": "sendMessage",
                    "summary": "Accept a message for the given recipients",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "description": "A retried request with the same key sends nothing twice",
                            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SendRequest"}}},
                    },
                    "responses": {
                        "202": {
                            "description": "Accepted; poll the job for per-recipient outcomes",
                            "headers": {"Location": {"schema": {"type": "string"}}},
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}},
                        },
                        "400": _error("Not JSON, or a bad Idempotency-Key"),
                        "401": _error("Missing or unknown API key"),
                        "403": _error("The key's scopes do not allow this deliver"),
                        "409": _error("The Idempotency-Key was used with a different request"),
                        "413": _error("Body too large"),
                        "422": _error("The request is not valid; problems lists each"),
                        "429": _error("Rate limit reached", **{"Retry-After": _RETRY_AFTER}),
                    },
                }
            },
            "/api/v1/messages/{job}": {
                "get": {
                    "operationId": "getJob",
                    "summary": "Per-recipient outcomes of a job",
                    "parameters": [{"name": "job", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": {
                            "description": "The job",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}},
                        },
                        "401": _error("Missing or unknown API key"),
                        "404": _error("No such job for this key"),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "pluto-bridge apikey"}},
            "schemas": {
                "Error": _ERROR,
                "Recipient": {
                    "oneOf": [
                        {
                            "type": "object",
                            "required": ["id"],
                            "properties": {"id": {"type": "integer", "minimum": 1}},
                            "additionalProperties": False,
                        },
                        {
                            "type": "object",
                            "required": ["username"],
                            "properties": {"username": {"type": "string"}},
                            "additionalProperties": False,
                        },
                        {
                            "type": "object",
                            "required": ["email"],
                            "properties": {"email": {"type": "string"}},
                            "additionalProperties": False,
                        },
                    ]
                },
                "SendRequest": {
                    "type": "object",
                    "required": ["recipients", "text"],
                    "additionalProperties": False,
                    "properties": {
                        "recipients": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": MAX_RECIPIENTS,
                            "items": {"$ref": "#/components/schemas/Recipient"},
                        },
                        "text": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT},
                        "format": {"type": "string", "enum": list(FORMATS), "default": "plain"},
                        "deliver": {"type": "string", "enum": list(DELIVER), "default": "chat"},
                        "urgent": {
                            "type": "boolean",
                            "default": False,
                            "description": "Chat only: passes the recipient's quiet hours",
                        },
                        "buttons": {
                            "type": "array",
                            "maxItems": MAX_BUTTONS,
                            "items": {
                                "type": "object",
                                "required": ["label", "url"],
                                "properties": {
                                    "label": {"type": "string", "minLength": 1, "maxLength": MAX_LABEL},
                                    "url": {"type": "string", "format": "uri", "maxLength": MAX_URL},
                                },
                            },
                        },
                    },
                },
                "Accepted": {
                    "type": "object",
                    "required": ["job", "status_url"],
                    "properties": {"job": {"type": "string"}, "status_url": {"type": "string"}},
                },
                "Outcome": _OUTCOME,
                "Job": {
                    "type": "object",
                    "required": ["job", "status", "deliver", "recipients"],
                    "properties": {
                        "job": {"type": "string"},
                        "status": {"type": "string", "enum": ["accepted", "done"]},
                        "deliver": {"type": "string", "enum": list(DELIVER)},
                        "created_at": {"type": "number"},
                        "finished_at": {"type": ["number", "null"]},
                        "recipients": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["recipient"],
                                "properties": {
                                    "recipient": {"$ref": "#/components/schemas/Recipient"},
                                    "user_id": {"type": ["integer", "null"]},
                                    "name": {"type": "string"},
                                    "chat": {"$ref": "#/components/schemas/Outcome"},
                                    "pluto": {"$ref": "#/components/schemas/Outcome"},
                                },
                            },
                        },
                    },
                },
            },
        },
    }
