"""REST routes under `/api`, plus health and metrics. Each handler parses, calls, encodes."""

from __future__ import annotations

import asyncio
import math
from typing import Annotated, Any, TypeVar

import msgspec
from aiohttp import web

from hub import api
from hub.domain import FileInfo, Note, Principal
from hub.errors import ErrorCode, HubError
from hub.metrics import CONTENT_TYPE_LATEST
from hub.protocol import TOO_DEEP, SendMessage, UpdateNote, WriteFile, encode, reject_nul
from hub.service import Hub
from hub.web.addresses import request_client_key
from hub.web.keys import HUB, METRICS, REQUEST_ID
from hub.web.logs import logged_path, unexpected
from hub.web.openapi import openapi_document

__all__ = ["bearer", "error_middleware", "error_response", "parse_id", "routes"]

routes = web.RouteTableDef()
T = TypeVar("T")


def json_response(body: msgspec.Struct | dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(body=encode(body), status=status, content_type="application/json")  # type: ignore[arg-type]


def error_response(exc: HubError) -> web.Response:
    body = api.ErrorBody(code=exc.code, message=exc.message)
    if exc.code == "conflict" and exc.data is not None:
        if isinstance(exc.data, Note):
            body.note = exc.data
        elif isinstance(exc.data, FileInfo):
            body.file = exc.data
    response = json_response(body, exc.http_status)
    if exc.code == "unauthorized":
        response.headers["WWW-Authenticate"] = "Bearer"
    elif exc.code == "rate_limited" and isinstance(exc.data, float):
        response.headers["Retry-After"] = str(max(1, math.ceil(exc.data)))
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """The one place a failure becomes an HTTP status and a JSON error body. An exception
    no handler expected becomes one `internal` error naming a request id, logged once
    (with its traceback at most once a minute per place it came from)."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except HubError as exc:
        return error_response(exc)
    except web.HTTPRequestEntityTooLarge:
        return error_response(HubError("payload_too_large", "request body is too large"))
    except web.HTTPMethodNotAllowed as exc:
        response = error_response(HubError("method_not_allowed", f"{request.method} not allowed"))
        response.headers["Allow"] = exc.headers.get("Allow", "")
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code: ErrorCode = "not_found" if exc.status == 404 else "bad_request"
        return error_response(HubError(code, exc.reason))
    except (asyncio.CancelledError, ConnectionError):
        raise
    except Exception as exc:
        request_id = request[REQUEST_ID]
        unexpected.report(
            exc, f"{request.method} {logged_path(request.rel_url.raw_path)} [{request_id}]"
        )
        response = error_response(HubError("internal", f"internal error (request {request_id})"))
        response.headers["X-Request-Id"] = request_id
        return response


def hub_of(request: web.Request) -> Hub:
    return request.app[HUB]


async def body(request: web.Request, type_: type[T]) -> T:
    """The request's JSON body decoded into `type_` (validating it), or `bad_request`."""
    raw = await request.read()
    reject_nul(raw)
    try:
        return msgspec.json.decode(raw or b"{}", type=type_)
    except msgspec.ValidationError as exc:
        raise HubError("bad_request", str(exc)) from None
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise HubError("bad_request", "request body is not valid UTF-8 JSON") from None
    except RecursionError:
        raise HubError("bad_request", TOO_DEEP) from None


def query(request: web.Request, type_: type[T]) -> T:
    try:
        return msgspec.convert(dict(request.query), type_, strict=False)
    except msgspec.ValidationError as exc:
        raise HubError("bad_request", f"query: {exc}") from None


def parse_id(raw: str) -> int | None:
    """A non-negative id written in plain ASCII digits that fits a bigint, else None
    (`str.isdigit` alone accepts "²" and other digits `int` refuses)."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        return None
    return int(raw)


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    return request.query.get("token")


async def principal(request: web.Request) -> Principal:
    """The caller, who must hold a token of the session named in the path."""
    who = await hub_of(request).authenticate(bearer(request))
    if who.session_id != request.match_info["session_id"]:
        raise HubError("forbidden", "this token belongs to another session")
    return who


# --- sessions -------------------------------------------------------------------------


@routes.post("/api/sessions")
async def create_session(request: web.Request) -> web.Response:
    req = await body(request, api.CreateSession)
    created = await hub_of(request).create_session(req, request_client_key(request))
    return json_response(created, 201)


@routes.post("/api/join")
async def join_session(request: web.Request) -> web.Response:
    req = await body(request, api.JoinSession)
    joined = await hub_of(request).join(req, request_client_key(request))
    return json_response(joined, 201)


@routes.get("/api/sessions/{session_id}")
async def get_session(request: web.Request) -> web.Response:
    return json_response(await hub_of(request).get_session(await principal(request)))


@routes.patch("/api/sessions/{session_id}")
async def update_session(request: web.Request) -> web.Response:
    who = await principal(request)
    req = await body(request, api.UpdateSession)
    return json_response(await hub_of(request).update_session(who, req))


@routes.delete("/api/sessions/{session_id}")
async def delete_session(request: web.Request) -> web.Response:
    await hub_of(request).delete_session(await principal(request))
    return web.Response(status=204)


@routes.get("/api/sessions/{session_id}/invite")
async def get_invite(request: web.Request) -> web.Response:
    return json_response(await hub_of(request).get_invite(await principal(request)))


@routes.post("/api/sessions/{session_id}/invite")
async def rotate_invite(request: web.Request) -> web.Response:
    return json_response(await hub_of(request).rotate_invite(await principal(request)))


# --- messages -------------------------------------------------------------------------


class MessageQuery(msgspec.Struct, forbid_unknown_fields=False):
    after: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)] | None = None
    before: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100


@routes.get("/api/sessions/{session_id}/messages")
async def list_messages(request: web.Request) -> web.Response:
    who = await principal(request)
    q = query(request, MessageQuery)
    page = await hub_of(request).list_messages(who, after=q.after, before=q.before, limit=q.limit)
    return json_response(page)


@routes.post("/api/sessions/{session_id}/messages")
async def post_message(request: web.Request) -> web.Response:
    who = await principal(request)
    frame = await body(request, SendMessage)
    message, duplicate = await hub_of(request).send_message(who, frame)
    return json_response(
        api.SentMessage(message=message, duplicate=duplicate), 200 if duplicate else 201
    )


# --- notes ----------------------------------------------------------------------------


@routes.get("/api/sessions/{session_id}/notes")
async def list_notes(request: web.Request) -> web.Response:
    notes = await hub_of(request).list_notes(await principal(request))
    return json_response(api.NoteList(notes=notes))


@routes.post("/api/sessions/{session_id}/notes")
async def create_note(request: web.Request) -> web.Response:
    who = await principal(request)
    frame = await body(request, UpdateNote)
    if frame.note_id is not None:
        raise HubError("bad_request", "to edit a note, PUT /notes/{note_id}")
    return json_response(await hub_of(request).update_note(who, frame), 201)


def _note_id(request: web.Request) -> int:
    raw = request.match_info["note_id"]
    note_id = parse_id(raw)
    if note_id is None:
        raise HubError("not_found", f"no note {raw[:32]!r}")
    return note_id


@routes.get("/api/sessions/{session_id}/notes/{note_id}")
async def get_note(request: web.Request) -> web.Response:
    who = await principal(request)
    return json_response(await hub_of(request).get_note(who, _note_id(request)))


@routes.put("/api/sessions/{session_id}/notes/{note_id}")
async def put_note(request: web.Request) -> web.Response:
    who = await principal(request)
    frame = await body(request, UpdateNote)
    frame.note_id = _note_id(request)
    return json_response(await hub_of(request).update_note(who, frame))


# --- files ----------------------------------------------------------------------------


@routes.get("/api/sessions/{session_id}/files")
async def list_files(request: web.Request) -> web.Response:
    files = await hub_of(request).list_files(await principal(request))
    return json_response(api.FileList(files=files))


@routes.get(r"/api/sessions/{session_id}/files/{path:[\s\S]+}")
async def get_file(request: web.Request) -> web.Response:
    who = await principal(request)
    return json_response(await hub_of(request).get_file(who, request.match_info["path"]))


@routes.put(r"/api/sessions/{session_id}/files/{path:[\s\S]+}")
async def put_file(request: web.Request) -> web.Response:
    who = await principal(request)
    req = await body(request, api.FileBody)
    frame = WriteFile(
        path=request.match_info["path"], content=req.content, expected_hash=req.expected_hash
    )
    return json_response(await hub_of(request).write_file(who, frame))


# --- presence and activity ------------------------------------------------------------


@routes.get("/api/sessions/{session_id}/presence")
async def list_presence(request: web.Request) -> web.Response:
    presence = await hub_of(request).list_presence(await principal(request))
    return json_response(api.PresenceList(presence=presence))


class ActivityQuery(msgspec.Struct):
    after: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)] = 0
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100


@routes.get("/api/sessions/{session_id}/activity")
async def list_activity(request: web.Request) -> web.Response:
    who = await principal(request)
    q = query(request, ActivityQuery)
    return json_response(await hub_of(request).list_activity(who, q.after, q.limit))


@routes.get("/api/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of this API, generated from its types."""
    return json_response(openapi_document())


# --- operations -----------------------------------------------------------------------


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """The process is up and serving."""
    return json_response(api.Health(status="ok"))


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready when PostgreSQL answers and the bus is connected."""
    hub = hub_of(request)
    database = await hub.store.ping()
    bus = hub.bus.healthy()
    ready = database and bus
    status = "ready" if ready else "unavailable"
    return json_response(
        api.Health(status=status, database=database, bus=bus), 200 if ready else 503
    )


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format: every metric of `hub.metrics`."""
    body = request.app[METRICS].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
