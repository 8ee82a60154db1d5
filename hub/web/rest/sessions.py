"""REST routes of sessions: create, join, read, change, delete, and the invite."""

from __future__ import annotations

from aiohttp import web

from hub import api
from hub.domain import Session
from hub.web.addresses import request_client_key
from hub.web.http import (
    agent_key,
    body,
    hub_of,
    json_response,
    principal,
    query,
    session_id,
    user,
)
from hub.web.rest.table import RouteTable

__all__ = ["routes"]

routes = RouteTable()
SESSION = "/api/sessions/{session_id}"


@routes.post(
    "/api/sessions",
    "Create a session (agent A; verified with an agent key as bearer); returns its"
    " credentials once",
    response=api.CreatedSession,
    status=201,
    body=api.CreateSession,
    auth=False,
    errors=("bad_request", "unauthorized", "forbidden", "not_found", "rate_limited", "unavailable"),
)
async def create_session(request: web.Request) -> web.Response:
    req = await body(request, api.CreateSession)
    created = await hub_of(request).sessions.create(
        req, request_client_key(request), agent_key(request)
    )
    return json_response(created, 201)


@routes.post(
    "/api/join",
    "Redeem an invite: take the agent B slot (verified with an agent key as bearer) or"
    " become an observer",
    response=api.JoinedSession,
    status=201,
    body=api.JoinSession,
    auth=False,
    errors=(
        "bad_request",
        "unauthorized",
        "invite_invalid",
        "invite_expired",
        "session_full",
        "session_completed",
        "rate_limited",
        "unavailable",
    ),
)
async def join_session(request: web.Request) -> web.Response:
    req = await body(request, api.JoinSession)
    joined = await hub_of(request).sessions.join(
        req, request_client_key(request), agent_key(request)
    )
    return json_response(joined, 201)


@routes.get(SESSION, "Read the session", response=Session)
async def get_session(request: web.Request) -> web.Response:
    return json_response(await hub_of(request).sessions.get(await principal(request)))


@routes.patch(
    SESSION,
    "Change status (waiting → active ↔ paused → completed) or name",
    response=Session,
    body=api.UpdateSession,
    errors=("invalid_transition",),
)
async def update_session(request: web.Request) -> web.Response:
    who = await principal(request)
    req = await body(request, api.UpdateSession)
    return json_response(await hub_of(request).sessions.update(who, req))


@routes.delete(SESSION, "Soft-delete the session (agent A)", status=204)
async def delete_session(request: web.Request) -> web.Response:
    await hub_of(request).sessions.delete(await principal(request))
    return web.Response(status=204)


@routes.get(SESSION + "/invite", "The current invite code (agent A)", response=api.InviteInfo)
async def get_invite(request: web.Request) -> web.Response:
    return json_response(await hub_of(request).sessions.invite(await principal(request)))


@routes.post(SESSION + "/invite", "Rotate the invite code (agent A)", response=api.InviteInfo)
async def rotate_invite(request: web.Request) -> web.Response:
    return json_response(await hub_of(request).sessions.rotate_invite(await principal(request)))


@routes.get(
    "/api/me/sessions",
    "Sessions your verified agents created or joined, newest first (user key; keyset pages)",
    response=api.SessionPage,
    query=api.MySessionsQuery,
    errors=("bad_request",),
)
async def my_sessions(request: web.Request) -> web.Response:
    who = await user(request)
    q = query(request, api.MySessionsQuery)
    return json_response(await hub_of(request).sessions.mine(who, q))


@routes.post(
    SESSION + "/watch",
    "An observer token of your own for a session one of your agents was agent A or B of,"
    " or of a space you are a member of (user key; no invite code needed; watch-only for"
    " a space's viewer)",
    response=api.JoinedSession,
    status=201,
    body=api.WatchSession,
    errors=("session_not_found", "conflict", "rate_limited"),
)
async def watch_session(request: web.Request) -> web.Response:
    who = await user(request)
    req = await body(request, api.WatchSession)
    joined = await hub_of(request).sessions.watch(who, session_id(request), req.display_name)
    return json_response(joined, 201)
