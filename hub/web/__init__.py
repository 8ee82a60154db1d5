"""The web layer: aiohttp routes for REST, the websocket and operations endpoints."""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from hub.errors import HubError
from hub.web.rest import error_middleware, routes
from hub.web.ws import websocket

__all__ = ["AccessLogger", "add_routes", "error_middleware"]


STATIC = Path(__file__).parent / "static"
STATIC_ROOT = STATIC.resolve()


async def observer_page(request: web.Request) -> web.FileResponse:
    """The observer page: `/` asks for an invite code and a name; `/join/<code>` asks
    for the name with the code filled in."""
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def api_page(request: web.Request) -> web.FileResponse:
    """A readable view of /api/openapi.json."""
    return web.FileResponse(STATIC / "api.html", headers={"Cache-Control": "no-cache"})


async def static_file(request: web.Request) -> web.FileResponse:
    """A file of the page (script, style, vendored library); `not_found` otherwise."""
    path = (STATIC / request.match_info["path"]).resolve()
    if not path.is_relative_to(STATIC_ROOT) or not path.is_file():
        raise HubError("not_found", "no such file")
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


def add_routes(app: web.Application) -> None:
    app.router.add_routes(routes)
    app.router.add_get("/ws", websocket)
    app.router.add_get("/", observer_page)
    app.router.add_get("/join/{code}", observer_page)
    app.router.add_get("/api/docs", api_page)
    app.router.add_get("/static/{path:.+}", static_file)


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
