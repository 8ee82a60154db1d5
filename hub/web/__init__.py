"""The web layer: aiohttp routes for REST, the websocket and operations endpoints."""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from hub.web.rest import error_middleware, routes
from hub.web.ws import websocket

__all__ = ["SECURITY_HEADERS", "AccessLogger", "add_routes", "error_middleware", "security_headers"]


STATIC = Path(__file__).parent / "static"

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
    """The observer page: `/` asks for an invite code, `/join/<code>` goes straight in."""
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def api_page(request: web.Request) -> web.FileResponse:
    """A readable view of /api/openapi.json."""
    return web.FileResponse(STATIC / "api.html", headers={"Cache-Control": "no-cache"})


def add_routes(app: web.Application) -> None:
    app.router.add_routes(routes)
    app.router.add_get("/ws", websocket)
    app.router.add_get("/", observer_page)
    app.router.add_get("/join/{code}", observer_page)
    app.router.add_get("/api/docs", api_page)
    app.router.add_static("/static/", STATIC)


class AccessLogger(AbstractAccessLogger):
    """One line per request, with the path but never the query string (tokens may be
    passed there)."""

    def __init__(self, logger: logging.Logger, log_format: str) -> None:
        super().__init__(logging.getLogger("hub.access"), log_format)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %d %.1fms',
            request.remote,
            request.method,
            request.path,
            response.status,
            time * 1000,
        )
