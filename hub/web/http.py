"""The edge of the hub, shared by REST and the websocket: the one map from a `HubError`
to an HTTP status and body, an `error` frame and a close code; and the parsing of what a
request brings (JSON body, query, ids, bearer token, principal).
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from hub import api
from hub.domain import (
    Artifact,
    ConfigRevision,
    FileInfo,
    Message,
    Note,
    Principal,
    Template,
    UserPrincipal,
    check_session_id,
)
from hub.domain.approvals import Approval
from hub.errors import ErrorCode, HubError
from hub.logs import new_request_id
from hub.protocol import (
    CLOSE_AUTH_FAILED,
    CLOSE_INTERNAL_ERROR,
    CLOSE_SESSION_DELETED,
    CLOSE_TOO_MANY_CONNECTIONS,
    CLOSE_TRY_AGAIN_LATER,
    TOO_DEEP,
    ErrorFrame,
    SendMessage,
    encode,
    reject_nul,
)
from hub.services import Hub
from hub.web.keys import HUB, REQUEST_ID
from hub.web.logs import logged_path, unexpected

__all__ = [
    "HTTP_STATUS",
    "agent_key",
    "bearer",
    "body",
    "close_code",
    "error_frame",
    "error_middleware",
    "error_response",
    "http_error_response",
    "hub_of",
    "internal_error_response",
    "json_response",
    "maybe_user",
    "parse_id",
    "principal",
    "query",
    "send",
    "user",
]

T = TypeVar("T")

HTTP_STATUS: dict[ErrorCode, int] = {
    "bad_request": 400,
    "unknown_frame": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "session_not_found": 404,
    "session_deleted": 410,
    "session_full": 409,
    "session_completed": 409,
    "invite_invalid": 404,
    "invite_expired": 410,
    "conflict": 409,
    "invalid_transition": 409,
    "payload_too_large": 413,
    "quota_exceeded": 413,
    "insufficient_credits": 402,
    "lease_lost": 409,
    "rate_limited": 429,
    "unavailable": 503,
    "internal": 500,
}
"""The HTTP status of each error code."""

_CLOSE_CODES: dict[ErrorCode, int] = {
    "unauthorized": CLOSE_AUTH_FAILED,
    "session_deleted": CLOSE_SESSION_DELETED,
    "session_not_found": CLOSE_SESSION_DELETED,
    # the one limit that refuses a websocket (a flood of frames closes 4029 itself)
    "rate_limited": CLOSE_TOO_MANY_CONNECTIONS,
    "unavailable": CLOSE_TRY_AGAIN_LATER,
}


def close_code(exc: HubError) -> int:
    """The close code a websocket ends with when `exc` ends it (before or after hello)."""
    return _CLOSE_CODES.get(exc.code, CLOSE_INTERNAL_ERROR)


def _recovery(exc: HubError) -> dict[str, Any]:
    """What a conflict carries so the caller can recover: the current note, file or
    configuration revision."""
    if exc.code == "conflict":
        if isinstance(exc.data, Note):
            return {"note": exc.data}
        if isinstance(exc.data, FileInfo):
            return {"file": exc.data}
        if isinstance(exc.data, ConfigRevision):
            return {"revision": exc.data}
        if isinstance(exc.data, Approval):
            return {"approval": exc.data}
    return {}


def error_frame(exc: HubError, ref: str | None) -> ErrorFrame:
    return ErrorFrame(code=exc.code, message=exc.message, ref=ref, **_recovery(exc))


def json_response(body: msgspec.Struct | dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(body=encode(body), status=status, content_type="application/json")  # type: ignore[arg-type]


def error_response(exc: HubError) -> web.Response:
    recovery = _recovery(exc)
    if exc.code == "conflict" and isinstance(exc.data, Template):  # REST only
        recovery = {"template": exc.data}
    if exc.code == "conflict" and isinstance(exc.data, Artifact):  # REST only
        recovery = {"artifact": exc.data}
    body = api.ErrorBody(code=exc.code, message=exc.message, **recovery)
    response = json_response(body, HTTP_STATUS[exc.code])
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
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return http_error_response(request, exc)
    except (asyncio.CancelledError, ConnectionError):
        raise
    except Exception as exc:
        return internal_error_response(request, exc)


def http_error_response(request: web.BaseRequest, exc: web.HTTPException) -> web.Response:
    """The JSON error answering one of aiohttp's HTTP errors (status 400 or more)."""
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return error_response(HubError("payload_too_large", "request body is too large"))
    if isinstance(exc, web.HTTPMethodNotAllowed):
        response = error_response(HubError("method_not_allowed", f"{request.method} not allowed"))
        response.headers["Allow"] = exc.headers.get("Allow", "")
        return response
    code: ErrorCode = "not_found" if exc.status == 404 else "bad_request"
    return error_response(HubError(code, exc.reason))


def internal_error_response(request: web.BaseRequest, exc: BaseException) -> web.Response:
    """The `internal` error answering an exception nothing expected, naming a request id
    (`X-Request-Id` too); logged once, with its traceback at most once a minute per
    place it came from."""
    request_id = request.get(REQUEST_ID) or new_request_id()
    unexpected.report(
        exc, f"{request.method} {logged_path(request.rel_url.raw_path)} [{request_id}]"
    )
    response = error_response(HubError("internal", f"internal error (request {request_id})"))
    response.headers["X-Request-Id"] = request_id
    return response


def send(hub: Hub, who: Principal, frame: SendMessage) -> asyncio.Future[tuple[Message, bool]]:
    """Queue a message sent over REST or the websocket (the same body, `SendMessage`)."""
    return hub.messages.send(who, frame)


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
    """The query string decoded into `type_` (validating it), or `bad_request` (also
    for a NUL character, which PostgreSQL text cannot hold)."""
    if any("\x00" in value for value in request.query.values()):
        raise HubError("bad_request", "query: text may not contain NUL characters")
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
    """The token: an `Authorization: Bearer` header, else a `token` query parameter."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    return request.query.get("token")


async def user(request: web.Request) -> UserPrincipal:
    """The person calling: a user key in the `Authorization: Bearer` header (never in
    the URL, where logs and browser history keep it)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return await hub_of(request).accounts.authenticate(
        token.strip() if scheme.lower() == "bearer" else None
    )


async def maybe_user(request: web.Request) -> UserPrincipal | None:
    """The person calling if the request has an `Authorization` header (which must then
    hold a valid user key), else None: anyone."""
    if "Authorization" not in request.headers:
        return None
    return await user(request)


def agent_key(request: web.Request) -> str | None:
    """An agent key (`agk_…`) in the `Authorization: Bearer` header, if one is there
    (other tokens there are not agent keys, and are left to the routes that read them)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token.startswith("agk_") else None


def session_id(request: web.Request) -> str:
    """The session named in the path, checked for shape (`session_not_found` if it
    cannot be one)."""
    return check_session_id(request.match_info["session_id"])


async def principal(request: web.Request) -> Principal:
    """The caller, who must hold a token of the session named in the path."""
    who = await hub_of(request).access.authenticate(bearer(request))
    if who.session_id != session_id(request):
        raise HubError("forbidden", "this token belongs to another session")
    return who
