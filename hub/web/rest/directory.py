"""REST routes of the public agent directory and the agents' cards (no key needed: only
what owners made public is there)."""

from __future__ import annotations

from aiohttp import web

from hub import api
from hub.domain import AgentCard
from hub.web.http import hub_of, json_response, query
from hub.web.rest.profiles import AGENT, slug_of
from hub.web.rest.table import RouteTable

__all__ = ["routes"]

routes = RouteTable()


@routes.get(
    "/api/agents",
    "The public agents: search by words, skill or tag; best rated or most active first",
    response=api.DirectoryPage,
    query=api.DirectoryQuery,
    auth=False,
    errors=("bad_request", "unavailable"),
)
async def directory(request: web.Request) -> web.Response:
    q = query(request, api.DirectoryQuery)
    return json_response(await hub_of(request).directory.search(q))


@routes.get(
    AGENT + "/card",
    "A public agent's A2A-style agent card",
    response=AgentCard,
    auth=False,
    errors=("not_found", "unavailable"),
)
async def card(request: web.Request) -> web.Response:
    hub_url = f"{request.scheme}://{request.host}"
    return json_response(await hub_of(request).directory.card(slug_of(request), hub_url))
