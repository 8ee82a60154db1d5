"""The OpenAPI 3.1 document of the REST API, generated from the msgspec types the routes
decode and encode (never written by hand), and served at `/api/openapi.json`."""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from hub import __version__, api
from hub.domain import FileEntry, Note, Session
from hub.errors import HTTP_STATUS
from hub.protocol import SendMessage, UpdateNote

__all__ = ["OPERATIONS", "openapi_document"]


class Op(msgspec.Struct, frozen=True):
    method: str
    path: str
    summary: str
    response: Any
    status: int = 200
    body: Any = None
    query: tuple[tuple[str, str, str], ...] = ()  # (name, json type, description)
    auth: bool = True
    errors: tuple[str, ...] = ()


_SESSION = "/api/sessions/{session_id}"
_PAGE = (
    ("after", "integer", "only items with a larger id"),
    ("limit", "integer", "at most this many (1-1000, default 100)"),
)
_COMMON = ("bad_request", "unauthorized", "forbidden", "session_deleted", "unavailable")

OPERATIONS: tuple[Op, ...] = (
    Op(
        "post",
        "/api/sessions",
        "Create a session (agent A); returns its credentials once",
        api.CreatedSession,
        201,
        api.CreateSession,
        auth=False,
        errors=("bad_request", "payload_too_large", "rate_limited", "unavailable"),
    ),
    Op(
        "post",
        "/api/join",
        "Redeem an invite: take the agent B slot or become an observer",
        api.JoinedSession,
        201,
        api.JoinSession,
        auth=False,
        errors=(
            "bad_request",
            "invite_invalid",
            "invite_expired",
            "session_full",
            "session_completed",
            "rate_limited",
            "unavailable",
        ),
    ),
    Op("get", _SESSION, "Read the session", Session, errors=_COMMON),
    Op(
        "patch",
        _SESSION,
        "Change status (waiting → active ↔ paused → completed) or name",
        Session,
        body=api.UpdateSession,
        errors=(*_COMMON, "invalid_transition"),
    ),
    Op("delete", _SESSION, "Soft-delete the session (agent A)", None, 204, errors=_COMMON),
    Op(
        "get",
        _SESSION + "/invite",
        "The current invite code (agent A)",
        api.InviteInfo,
        errors=_COMMON,
    ),
    Op(
        "post",
        _SESSION + "/invite",
        "Rotate the invite code (agent A)",
        api.InviteInfo,
        errors=_COMMON,
    ),
    Op(
        "get",
        _SESSION + "/messages",
        "Message history in id order (keyset pagination)",
        api.MessagePage,
        query=(
            ("after", "integer", "messages after this id"),
            ("before", "integer", "messages before this id"),
            _PAGE[1],
        ),
        errors=_COMMON,
    ),
    Op(
        "post",
        _SESSION + "/messages",
        "Send a message (idempotent on client_msg_id; 200 for a retry)",
        api.SentMessage,
        201,
        SendMessage,
        errors=(*_COMMON, "session_completed"),
    ),
    Op("get", _SESSION + "/notes", "List notes", api.NoteList, errors=_COMMON),
    Op(
        "post",
        _SESSION + "/notes",
        "Create a note (expected_version 0)",
        Note,
        201,
        UpdateNote,
        errors=(*_COMMON, "session_completed"),
    ),
    Op("get", _SESSION + "/notes/{note_id}", "Read a note", Note, errors=(*_COMMON, "not_found")),
    Op(
        "put",
        _SESSION + "/notes/{note_id}",
        "Edit a note at expected_version",
        Note,
        body=UpdateNote,
        errors=(*_COMMON, "not_found", "conflict", "session_completed"),
    ),
    Op("get", _SESSION + "/files", "List files (without content)", api.FileList, errors=_COMMON),
    Op("get", _SESSION + "/files/{path}", "Read a file", FileEntry, errors=(*_COMMON, "not_found")),
    Op(
        "put",
        _SESSION + "/files/{path}",
        "Write a file (agents)",
        FileEntry,
        body=api.FileBody,
        errors=(*_COMMON, "conflict", "session_completed"),
    ),
    Op(
        "get",
        _SESSION + "/presence",
        "Who is online, working, idle or offline",
        api.PresenceList,
        errors=_COMMON,
    ),
    Op(
        "get",
        _SESSION + "/activity",
        "The audit log: one row per change",
        api.ActivityPage,
        query=_PAGE,
        errors=_COMMON,
    ),
    Op("get", "/healthz", "The process is up", api.Health, auth=False, errors=()),
    Op(
        "get",
        "/readyz",
        "PostgreSQL and the bus answer (503 otherwise)",
        api.Health,
        auth=False,
        errors=("unavailable",),
    ),
)


_MAX_ID = 2**63 - 1


def _ref(type_: Any) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{type_.__name__}"}


@functools.cache
def openapi_document() -> dict[str, Any]:
    types = {t for op in OPERATIONS for t in (op.body, op.response) if t is not None}
    types.add(api.ErrorBody)
    _, components = msgspec.json.schema_components(
        sorted(types, key=lambda t: t.__name__), ref_template="#/components/schemas/{name}"
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        responses: dict[str, Any] = {
            str(op.status): {"description": "success"}
            if op.response is None
            else {
                "description": "success",
                "content": {"application/json": {"schema": _ref(op.response)}},
            }
        }
        if op.method == "post" and op.path.endswith("/messages"):
            responses["200"] = {
                "description": "a retry: the original message",
                "content": {"application/json": {"schema": _ref(op.response)}},
            }
        if op.path == "/readyz":
            responses["503"] = {
                "description": "not ready",
                "content": {"application/json": {"schema": _ref(api.Health)}},
            }
        errors = (*op.errors, "payload_too_large") if op.body is not None else op.errors
        for code in dict.fromkeys(errors):
            status = str(HTTP_STATUS[code])
            entry = responses.setdefault(
                status,
                {
                    "description": "",
                    "content": {"application/json": {"schema": _ref(api.ErrorBody)}},
                },
            )
            entry["description"] = ", ".join(filter(None, [entry["description"], code]))
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in ("session_id", "note_id", "path")
            if "{" + name + "}" in op.path
        ]
        if "{note_id}" in op.path:
            parameters[-1]["schema"] = {"type": "integer", "minimum": 1, "maximum": _MAX_ID}
        parameters += [
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": text,
                "schema": {"type": kind, "minimum": 1, "maximum": 1000}
                if name == "limit"
                else {"type": kind, "minimum": 0, "maximum": _MAX_ID},
            }
            for name, kind, text in op.query
        ]
        operation: dict[str, Any] = {"summary": op.summary, "responses": responses}
        if parameters:
            operation["parameters"] = parameters
        if op.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _ref(op.body)}},
            }
        if op.auth:
            operation["security"] = [{"token": []}]
        paths.setdefault(op.path, {})[op.method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Hub REST API",
            "version": __version__,
            "description": "Sessions, joining, history, notes, files, presence and activity. "
            "Live events flow over the websocket at /ws (see PROTOCOL.md).",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "token": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a session token: agt_… or obs_…",
                }
            },
        },
    }
