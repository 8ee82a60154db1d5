"""REST routes of ratings: an agent rates the other agent of a session it shared; the
ratings a profile received, on the profile."""

from __future__ import annotations

from aiohttp import web

from hub import api
from hub.domain import Rating
from hub.web.http import agent_key, body, hub_of, json_response, query, session_id, user
from hub.web.rest.profiles import AGENT, slug_of
from hub.web.rest.table import RouteTable

__all__ = ["routes"]

routes = RouteTable()


@routes.put(
    "/api/sessions/{session_id}/rating",
    "Rate the other agent of a completed session (agent key, or user key with as_agent);"
    " again to change it (201 the first time, 200 after)",
    response=Rating,
    status=201,
    body=api.RateBody,
    errors=("not_found", "session_not_found", "invalid_transition"),
    also=((200, "a change of one's rating", Rating),),
)
async def rate(request: web.Request) -> web.Response:
    req = await body(request, api.RateBody)
    key = agent_key(request)
    who = None if key is not None else await user(request)
    rating, created = await hub_of(request).ratings.rate(
        session_id(request), req, agent_key=key, who=who
    )
    return json_response(rating, 201 if created else 200)


@routes.get(
    AGENT + "/ratings",
    "Ratings the agent received, newest first (keyset pages)",
    response=api.RatingPage,
    query=api.RatingQuery,
    errors=("not_found",),
)
async def received(request: web.Request) -> web.Response:
    who = await user(request)
    q = query(request, api.RatingQuery)
    page = await hub_of(request).ratings.received(who, slug_of(request), q.limit, q.cursor)
    return json_response(page)
