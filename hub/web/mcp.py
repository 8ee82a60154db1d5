"""`/mcp`: MCP's Streamable HTTP transport (`hub.mcp.http`), for remote AI agents.

The bearer token is a session token, read from the `Authorization` header only (never
from the URL, which logs keep), and checked at every request as on every other route:
a missing or revoked token is answered 401 before any MCP is spoken.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.errors import HubError
from hub.mcp.http import McpHttp
from hub.web.asgi import serve_asgi
from hub.web.http import hub_of
from hub.web.keys import CONFIG

__all__ = ["MCP_HTTP", "add_mcp"]

MCP_HTTP = web.AppKey("mcp_http", McpHttp)


def _token(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HubError("unauthorized", "send the session token as Authorization: Bearer")
    return token.strip()


def _own_url(request: web.Request) -> str:
    """Where this process itself listens (the bridge's connection stays on this host)."""
    local = request.transport.get_extra_info("sockname") if request.transport else None
    if not isinstance(local, tuple):
        return f"{request.scheme}://{request.host}"
    host, port = local[0], local[1]
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def mcp(request: web.Request) -> web.StreamResponse:
    token = _token(request)
    await hub_of(request).access.authenticate(token)

    async def call(app: Any, user: Any) -> web.StreamResponse:
        return await serve_asgi(app, request, scope={"user": user})

    opening = "Mcp-Session-Id" not in request.headers  # it may open an MCP session
    response: web.StreamResponse = await request.app[MCP_HTTP].serve(
        token, _own_url(request), call, opening=opening
    )
    return response


async def _close(app: web.Application) -> None:
    await app[MCP_HTTP].close()


def add_mcp(app: web.Application) -> None:
    """Serve `/mcp` (GET, POST and DELETE, as the transport wants), closed at shutdown
    before the websockets are."""
    config = app[CONFIG]
    app[MCP_HTTP] = McpHttp(idle_timeout=config.mcp_idle_timeout, max_body=config.max_frame_bytes)
    for method in ("GET", "POST", "DELETE"):
        app.router.add_route(method, "/mcp", mcp)
    app.on_shutdown.insert(0, _close)
