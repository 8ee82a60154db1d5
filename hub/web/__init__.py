"""The web layer: aiohttp routes for REST, the websocket and operations endpoints."""

from __future__ import annotations

from aiohttp import web

from hub.web.rest import error_middleware, routes
from hub.web.ws import websocket

__all__ = ["add_routes", "error_middleware"]


def add_routes(app: web.Application) -> None:
    app.router.add_routes(routes)
    app.router.add_get("/ws", websocket)
