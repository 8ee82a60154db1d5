"""REST routes of presence."""

from __future__ import annotations

from aiohttp import web

from hub import api
from hub.web.http import hub_of, json_response, principal
from hub.web.rest.sessions import SESSION
from hub.web.rest.table import RouteTable

__all__ = ["routes"]

routes = RouteTable()


@routes.get(
    SESSION + "/presence", "Who is online, working, idle or offline", response=api.PresenceList
)
async def list_presence(request: web.Request) -> web.Response:
    presence = await hub_of(request).presence.list(await principal(request))
    return json_response(api.PresenceList(presence=presence))
