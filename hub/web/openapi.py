"""The OpenAPI 3.1 document of the REST API, walked from the route tables (each route's
method, path, summary, body, query and response types, as registered) and the msgspec
types they decode and encode; never written by hand. Served at `/api/openapi.json`."""

from __future__ import annotations

import functools
import re
from typing import Any

import msgspec

from hub import __version__, api
from hub.api.notes import MAX_VERSION
from hub.api.profiles import MAX_REVISION
from hub.domain.attachments import ATTACHMENT_ID_PATTERN
from hub.domain.identity import USERNAME_PATTERN
from hub.domain.profiles import SLUG_PATTERN
from hub.domain.secrets import SECRET_NAME_PATTERN
from hub.domain.spaces import SPACE_REF_PATTERN
from hub.domain.templates import TEMPLATE_REF_PATTERN
from hub.web.http import HTTP_STATUS
from hub.web.rest import Operation, operations

__all__ = ["openapi_document"]

_MAX_ID = 2**63 - 1
_PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "session_id": {"type": "string"},
    "note_id": {"type": "integer", "minimum": 1, "maximum": _MAX_ID},
    "artifact_id": {"type": "integer", "minimum": 1, "maximum": _MAX_ID},
    "message_id": {"type": "integer", "minimum": 1, "maximum": _MAX_ID},
    "path": {"type": "string"},
    "attachment_id": {"type": "string", "pattern": ATTACHMENT_ID_PATTERN},
    "key_id": {"type": "string", "maxLength": 64},
    "slug": {"type": "string", "pattern": SLUG_PATTERN},
    "revision": {"type": "integer", "minimum": 1, "maximum": MAX_REVISION},
    "secret_name": {"type": "string", "pattern": SECRET_NAME_PATTERN},
    "space": {"type": "string", "pattern": SPACE_REF_PATTERN, "description": "slug or id"},
    "webhook_id": {"type": "string", "pattern": r"^whk_[A-Za-z0-9_-]{16,64}$"},
    "username": {"type": "string", "pattern": USERNAME_PATTERN},
    "template": {
        "type": "string",
        "pattern": TEMPLATE_REF_PATTERN,
        "description": "id (tpl_…), USERNAME/SLUG or space:SPACE/SLUG (the slash as %2F)",
    },
    "version": {"type": "integer", "minimum": 1, "maximum": MAX_VERSION},
    "pool_id": {"type": "string", "pattern": r"^pol_[A-Za-z0-9_-]{21}$"},
    "job_id": {"type": "string", "pattern": r"^job_[A-Za-z0-9_-]{21}$"},
}


def _ref(type_: Any) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{type_.__name__}"}


def _json(type_: Any, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(type_)}}}


def _query_parameters(query: Any) -> list[dict[str, Any]]:
    """The query Struct's fields, with their bounds and descriptions, as parameters."""
    schema = msgspec.json.schema(query)
    fields = schema["$defs"][query.__name__]["properties"]
    parameters = []
    for name, spec in fields.items():
        spec = dict(spec)
        if "anyOf" in spec:  # `int | None`: the query either has it or not
            spec = next(s for s in spec["anyOf"] if s.get("type") != "null")
        description = spec.pop("description", None)
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": False}
        if description:
            parameter["description"] = description
        parameter["schema"] = spec
        parameters.append(parameter)
    return parameters


def _operation(op: Operation) -> dict[str, Any]:
    responses: dict[str, Any] = {
        str(op.status): {"description": "success"}
        if op.response is None
        else _json(op.response, "success")
    }
    success = responses[str(op.status)]
    for media_type, type_ in op.media:
        schema: dict[str, Any] = {"type": "string"} if type_ is None else _ref(type_)
        if type_ is None and not media_type.startswith("text/"):
            schema["format"] = "binary"
        success.setdefault("content", {})[media_type] = {"schema": schema}
    for status, description, type_ in op.also:
        responses[str(status)] = _json(type_, description)
    for code in op.all_errors:
        entry = responses.setdefault(str(HTTP_STATUS[code]), _json(api.ErrorBody, ""))
        entry["description"] = ", ".join(filter(None, [entry["description"], code]))
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": _PATH_PARAMETERS[name]}
        for name in re.findall(r"\{(\w+)\}", op.document_path)
    ]
    if op.query is not None:
        parameters += _query_parameters(op.query)
    operation: dict[str, Any] = {"summary": op.summary, "responses": responses}
    if parameters:
        operation["parameters"] = parameters
    if op.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(op.body)}},
        }
    elif op.raw_body:
        binary = {"schema": {"type": "string", "format": "binary"}}
        form = {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
        operation["requestBody"] = {
            "required": True,
            "description": "the content, its MIME type in Content-Type; or a multipart/form-data"
            " body whose first file part is the content (its filename and Content-Type used)",
            "content": {
                "application/octet-stream": binary,
                "*/*": binary,
                "multipart/form-data": {"schema": form},
            },
        }
    if op.auth:
        operation["security"] = [{"token": []}]
    return operation


@functools.cache
def openapi_document() -> dict[str, Any]:
    ops = operations()
    types = {t for op in ops for t in (op.body, op.response) if t is not None}
    types |= {t for op in ops for _, _, t in op.also}
    types |= {t for op in ops for _, t in op.media if t is not None}
    types.add(api.ErrorBody)
    _, components = msgspec.json.schema_components(
        sorted(types, key=lambda t: t.__name__), ref_template="#/components/schemas/{name}"
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        paths.setdefault(op.document_path, {})[op.method] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Hub REST API",
            "version": __version__,
            "description": "Sessions, joining, history, notes, files, presence and activity; "
            "approvals (decided once, under the session's approval_policy) and interrupts; "
            "people's accounts and keys; agent profiles, their keys and configuration. "
            "Live events (messages, streamed messages as they are written, approval "
            "decisions, interrupts) flow over the websocket at /ws (see PROTOCOL.md); AI "
            "agents may instead use MCP's Streamable HTTP transport at /mcp, with the "
            "session token as bearer (see the README's MCP section).",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "token": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a session token (agt_… or obs_…) for a session's routes, a"
                    " user key (usr_…) for /api/me and /api/agents, an agent key (agk_…) to"
                    " create or join a session as a verified agent",
                }
            },
        },
    }
