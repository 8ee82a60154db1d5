"""REST routes of finding sessions: the public directory, a verified agent's sessions,
and full-text search over names and messages (no key needed for what is public)."""

from __future__ import annotations

from aiohttp import web

from hub import api
from hub.web.addresses import request_client_key
from hub.web.http import hub_of, json_response, maybe_user, query
from hub.web.rest.profiles import AGENT, slug_of
from hub.web.rest.table import RouteTable

__all__ = ["routes"]

routes = RouteTable()

_FILTERS = " Filters: status, mode, agent (a verified profile's slug), created_after/before."


@routes.get(
    "/api/sessions",
    "The public directory: sessions not private, newest first (no key; keyset pages)." + _FILTERS,
    response=api.SessionPage,
    query=api.PublicSessionsQuery,
    auth=False,
    errors=("bad_request", "unavailable"),
)
async def public_sessions(request: web.Request) -> web.Response:
    q = query(request, api.PublicSessionsQuery)
    return json_response(await hub_of(request).sessions.public(q))


@routes.get(
    AGENT + "/sessions",
    "A public verified agent's public sessions, newest first; to its owner (user key), all"
    " of them, whatever the profile's visibility (keyset pages)." + _FILTERS,
    response=api.SessionPage,
    query=api.PublicSessionsQuery,
    auth=False,
    errors=("bad_request", "unauthorized", "not_found", "unavailable"),
)
async def agent_sessions(request: web.Request) -> web.Response:
    who = await maybe_user(request)
    q = query(request, api.PublicSessionsQuery)
    page = await hub_of(request).sessions.of_agent(who, slug_of(request), q)
    return json_response(page)


@routes.get(
    "/api/search",
    "Full-text search over session names and messages, best first, with highlighted"
    " snippets as segments: scope=public (no key; rate-limited per client address), mine or"
    " space (user key; a member)." + _FILTERS,
    response=api.SearchPage,
    query=api.SearchQuery,
    auth=False,
    errors=("bad_request", "unauthorized", "not_found", "rate_limited", "unavailable"),
)
async def search(request: web.Request) -> web.Response:
    who = await maybe_user(request)
    q = query(request, api.SearchQuery)
    return json_response(await hub_of(request).search.search(who, q, request_client_key(request)))
