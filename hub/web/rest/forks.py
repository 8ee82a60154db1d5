"""REST routes of forks: fork a session at a message, and list a session's forks."""

from __future__ import annotations

from aiohttp import web

from hub import api
from hub.web.addresses import request_client_key
from hub.web.http import body, hub_of, json_response, principal, query
from hub.web.rest.table import RouteTable

__all__ = ["routes"]

routes = RouteTable()
FORKS = "/api/sessions/{session_id}/forks"


@routes.post(
    "/api/sessions/{session_id}/fork",
    "Fork the session at a message (agent A or B): a new session with messages 1..N and"
    " the notes and files as they stood after N; returns its credentials once",
    response=api.CreatedSession,
    status=201,
    body=api.ForkSession,
    errors=("rate_limited",),
)
async def fork_session(request: web.Request) -> web.Response:
    who = await principal(request)
    req = await body(request, api.ForkSession)
    forked = await hub_of(request).forks.fork(who, req, request_client_key(request))
    return json_response(forked, 201)


@routes.get(
    FORKS,
    "The session's forks, newest first (keyset pages)",
    response=api.ForkPage,
    query=api.ForksQuery,
)
async def list_forks(request: web.Request) -> web.Response:
    who = await principal(request)
    q = query(request, api.ForksQuery)
    return json_response(await hub_of(request).forks.list(who, q))
