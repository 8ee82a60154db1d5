"""Serve one request of an aiohttp route with an ASGI application.

The hub is an aiohttp application; the MCP SDK's Streamable HTTP transport is an ASGI
one (Starlette). Rather than a second server on a second port, a route hands its request
to the ASGI app: the body is streamed to it as `http.request` messages, its response
(JSON, or a server-sent-event stream) is streamed back through an aiohttp
`StreamResponse`, and once the body is read, `receive` reports `http.disconnect` when
the response is done. A client that leaves is noticed when a write to it fails (aiohttp
does not cancel a handler whose client leaves): an event stream's keep-alive pings
(every 15 s) find it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from aiohttp import web

__all__ = ["ASGIApp", "serve_asgi"]

Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[Message]],
        Callable[[Message], Awaitable[None]],
    ],
    Awaitable[None],
]


async def serve_asgi(
    app: ASGIApp, request: web.Request, *, scope: dict[str, Any] | None = None
) -> web.StreamResponse:
    """Run `app` for `request` and return the response it streamed (`scope` adds keys to
    the ASGI scope, such as the authenticated `user`)."""
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport else None
    local = transport.get_extra_info("sockname") if transport else None
    full: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": f"{request.version.major}.{request.version.minor}",
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": request.raw_path.split("?", 1)[0].encode(),
        "query_string": request.query_string.encode(),
        "root_path": "",
        "headers": [(name.lower(), value) for name, value in request.raw_headers],
        "client": tuple(peer[:2]) if isinstance(peer, tuple) else None,
        "server": tuple(local[:2]) if isinstance(local, tuple) else None,
        "state": {},
        **(scope or {}),
    }
    response: web.StreamResponse | None = None
    done = asyncio.Event()
    body_read = False

    async def receive() -> Message:
        nonlocal body_read
        if not body_read:
            chunk = await request.content.readany()
            body_read = request.content.at_eof()
            return {"type": "http.request", "body": chunk, "more_body": not body_read}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal response
        if message["type"] == "http.response.start":
            response = web.StreamResponse(status=message["status"])
            for name, value in message.get("headers", ()):
                response.headers.add(name.decode("latin-1"), value.decode("latin-1"))
            await response.prepare(request)
        elif message["type"] == "http.response.body":
            assert response is not None, "a body before the response started"
            if body := message.get("body", b""):
                await response.write(body)
            if not message.get("more_body", False):
                await response.write_eof()
                done.set()

    try:
        await app(full, receive, send)
    finally:
        done.set()
    if response is None:
        raise web.HTTPInternalServerError(text="the application sent no response")
    return response
