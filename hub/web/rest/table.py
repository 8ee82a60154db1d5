"""A route table that keeps, beside each handler, what the API document says of it.

Each area's module fills one `RouteTable`; `hub.web.openapi` walks the tables to write
the OpenAPI document, so a route and its documentation cannot drift apart: the method,
path, body, query and response types are the ones the handler is registered with.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from hub.errors import ErrorCode

__all__ = ["COMMON_ERRORS", "Operation", "RouteTable"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

COMMON_ERRORS: tuple[ErrorCode, ...] = (
    "bad_request",
    "unauthorized",
    "forbidden",
    "session_deleted",
    "unavailable",
)
"""What any route that takes a session token may answer."""


@dataclass(frozen=True, kw_only=True)
class Operation:
    """One route and what the API document says of it."""

    method: str
    path: str
    """As aiohttp matches it: `{name}` or `{name:regex}` segments."""
    summary: str
    handler: Handler
    response: Any = None
    """The success body's type (None: no body)."""
    status: int = 200
    body: Any = None
    """The request body's type, decoded with `hub.web.http.body`."""
    query: Any = None
    """The query's Struct type, decoded with `hub.web.http.query`."""
    raw_body: bool = False
    """Takes a binary body (any media type, or multipart/form-data) rather than JSON."""
    auth: bool = True
    """Takes a session token (and so may answer `COMMON_ERRORS`)."""
    errors: tuple[ErrorCode, ...] = ()
    """Error codes beyond the common ones."""
    also: tuple[tuple[int, str, Any], ...] = ()
    """Other successful answers: (status, description, body type)."""
    media: tuple[tuple[str, Any], ...] = ()
    """Other media types the success answer may come in (a query chooses): (media type,
    body type, or None for text)."""

    @property
    def document_path(self) -> str:
        """The path as OpenAPI writes it (`{name}`, without aiohttp's regex)."""
        return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", self.path)

    @property
    def all_errors(self) -> tuple[ErrorCode, ...]:
        common = COMMON_ERRORS if self.auth else ()
        bodied = self.body is not None or self.raw_body
        sized: tuple[ErrorCode, ...] = ("payload_too_large",) if bodied else ()
        return tuple(dict.fromkeys((*common, *self.errors, *sized)))


class RouteTable:
    """Routes of one area: `@table.get(path, summary, response=...)` on each handler."""

    def __init__(self) -> None:
        self.operations: list[Operation] = []

    def route(
        self, method: str, path: str, summary: str, **doc: Any
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.operations.append(
                Operation(method=method, path=path, summary=summary, handler=handler, **doc)
            )
            return handler

        return register

    def get(self, path: str, summary: str, **doc: Any) -> Callable[[Handler], Handler]:
        return self.route("get", path, summary, **doc)

    def post(self, path: str, summary: str, **doc: Any) -> Callable[[Handler], Handler]:
        return self.route("post", path, summary, **doc)

    def put(self, path: str, summary: str, **doc: Any) -> Callable[[Handler], Handler]:
        return self.route("put", path, summary, **doc)

    def patch(self, path: str, summary: str, **doc: Any) -> Callable[[Handler], Handler]:
        return self.route("patch", path, summary, **doc)

    def delete(self, path: str, summary: str, **doc: Any) -> Callable[[Handler], Handler]:
        return self.route("delete", path, summary, **doc)

    def add_to(self, app: web.Application) -> None:
        for op in self.operations:
            app.router.add_route(op.method.upper(), op.path, op.handler)
