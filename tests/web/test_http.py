"""The edge's one map from a failure to what the caller sees, and the API document walked
from the routes the app serves."""

from __future__ import annotations

import re
import typing

from aiohttp import web

from hub.errors import ErrorCode, HubError
from hub.protocol import CLOSE_CODES
from hub.web import add_routes
from hub.web.http import HTTP_STATUS, close_code, error_frame, error_response
from hub.web.openapi import openapi_document


def test_every_error_code_has_a_status_a_frame_and_a_documented_close_code() -> None:
    """Each error code maps to its HTTP status, an error frame carrying the same code,
    and a close code the protocol documents (so no bare, unexplained close)."""
    codes = typing.get_args(ErrorCode)
    assert set(codes) == set(HTTP_STATUS)
    for code in codes:
        exc = HubError(code, "why")
        assert error_response(exc).status == HTTP_STATUS[code]
        frame = error_frame(exc, "r1")
        assert (frame.code, frame.message, frame.ref) == (code, "why", "r1")
        assert close_code(exc) in CLOSE_CODES


def test_close_codes_say_what_to_do() -> None:
    """A bad token closes 4001 (do not retry), a deleted session 4004 (do not
    reconnect), too many connections 4009, a database outage 1013 (retry), and anything
    unexpected 1011."""
    assert close_code(HubError("unauthorized", "")) == 4001
    assert close_code(HubError("session_deleted", "")) == 4004
    assert close_code(HubError("rate_limited", "")) == 4009
    assert close_code(HubError("unavailable", "")) == 1013
    assert close_code(HubError("internal", "")) == 1011


def test_the_api_document_lists_exactly_the_routes_served() -> None:
    """Every route the app serves under /api, and /healthz and /readyz, is in the OpenAPI
    document with its method, and the document lists no route that is not served."""
    app = web.Application()
    add_routes(app)
    served = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter", "")
        if route.method in ("HEAD", "*") or not (
            (path.startswith("/api/") and path not in ("/api/openapi.json", "/api/docs"))
            or path in ("/healthz", "/readyz")
        ):
            continue
        served.add((route.method.lower(), path))
    documented = {
        (method, path)
        for path, operations in openapi_document()["paths"].items()
        for method in operations
    }
    assert served == documented


def test_every_documented_body_and_query_is_the_one_its_handler_decodes() -> None:
    """A route's documented body and query types are the ones its handler decodes, so
    the API document cannot promise one shape while the handler takes another."""
    import inspect

    from hub.web.rest import operations

    for op in operations():
        source = inspect.getsource(op.handler)
        decoded_bodies = set(re.findall(r"\bbody\(request, ([\w.]+)\)", source))
        decoded_queries = set(re.findall(r"\bquery\(request, ([\w.]+)\)", source))
        expected_body = {op.body.__name__} if op.body is not None else set()
        expected_query = {op.query.__name__} if op.query is not None else set()
        assert {name.rsplit(".", 1)[-1] for name in decoded_bodies} == expected_body, op.path
        assert {name.rsplit(".", 1)[-1] for name in decoded_queries} == expected_query, op.path
