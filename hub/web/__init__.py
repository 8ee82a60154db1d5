"""The web layer: aiohttp routes for REST, the websocket and operations endpoints."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from hub.errors import HubError
from hub.web.http import error_middleware, json_response
from hub.web.logs import AccessLogger
from hub.web.openapi import openapi_document
from hub.web.rest import add_routes as add_api_routes
from hub.web.ws import websocket

__all__ = ["SECURITY_HEADERS", "AccessLogger", "add_routes", "error_middleware", "security_headers"]


STATIC = Path(__file__).parent / "static"
STATIC_ROOT = STATIC.resolve()

# On every response: the page runs only its own files (no inline script or style, so
# injected markup cannot run), cannot be framed, and never sends its URL (which holds
# the invite code) to another site; no response is sniffed into another type.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
        "object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """An `on_response_prepare` hook: adds SECURITY_HEADERS to every response (pages,
    static files, JSON, errors and websocket upgrades alike)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


async def observer_page(request: web.Request) -> web.FileResponse:
    """The observer page: `/` asks for an invite code and a name; `/join/<code>` asks
    for the name with the code filled in; `/watch/<session id>` opens a session of one's
    agents for the person signed in on "My hub" in that tab."""
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


VIEWER_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
    ),
    "X-Frame-Options": "SAMEORIGIN",
    "Cache-Control": "no-cache",
}
"""The 3D viewer's own headers: framed by the observer page only, in a frame sandboxed
to an opaque origin (`sandbox="allow-scripts"`), running only the hub's files (no eval,
so no agent-supplied code), fetching nothing: the page sends it the scene's data."""


async def viewer_3d(request: web.Request) -> web.FileResponse:
    """The frame that draws a 3D scene (the vendored 3Dmol.js) from data the observer
    page posts to it."""
    return web.FileResponse(STATIC / "viewer3d.html", headers=VIEWER_HEADERS)


async def api_page(request: web.Request) -> web.FileResponse:
    """A readable view of /api/openapi.json."""
    return web.FileResponse(STATIC / "api.html", headers={"Cache-Control": "no-cache"})


async def my_hub(request: web.Request) -> web.FileResponse:
    """ "My hub": sign in or up, then one's keys (and, as they come, agents and sessions)."""
    return web.FileResponse(STATIC / "me.html", headers={"Cache-Control": "no-cache"})


async def static_file(request: web.Request) -> web.FileResponse:
    """A file of the page (script, style, vendored library); `not_found` otherwise."""
    path = (STATIC / request.match_info["path"]).resolve()
    if not path.is_relative_to(STATIC_ROOT) or not path.is_file():
        raise HubError("not_found", "no such file")
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of the REST API, generated from its route tables."""
    return json_response(openapi_document())


def add_routes(app: web.Application) -> None:
    add_api_routes(app)
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/ws", websocket)
    app.router.add_get("/", observer_page)
    app.router.add_get("/join/{code}", observer_page)
    app.router.add_get("/watch/{session_id}", observer_page)
    app.router.add_get("/viewer3d", viewer_3d)
    app.router.add_get("/api/docs", api_page)
    app.router.add_get("/me", my_hub)
    app.router.add_get("/static/{path:.+}", static_file)
