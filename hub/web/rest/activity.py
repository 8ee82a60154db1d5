"""REST routes of the activity log."""

from __future__ import annotations

from aiohttp import web

from hub import api
from hub.web.http import hub_of, json_response, principal, query
from hub.web.rest.sessions import SESSION
from hub.web.rest.table import RouteTable

__all__ = ["routes"]

routes = RouteTable()


@routes.get(
    SESSION + "/activity",
    "The audit log: one row per change",
    response=api.ActivityPage,
    query=api.ActivityQuery,
)
async def list_activity(request: web.Request) -> web.Response:
    who = await principal(request)
    q = query(request, api.ActivityQuery)
    return json_response(await hub_of(request).activity.list(who, q.after, q.limit))
