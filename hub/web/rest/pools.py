"""REST routes of credit pools: a person's (user key) or a space's (its owners top it
up, its members read it); and the pool a session draws on (agent A sets it, any
participant reads it)."""

from __future__ import annotations

import re

from aiohttp import web

from hub.api.pools import (
    Grant,
    LedgerPage,
    LedgerQuery,
    NewPool,
    PoolList,
    Refund,
    SetSessionPool,
)
from hub.domain.pools import Pool, SessionPool
from hub.errors import HubError
from hub.web.http import body, hub_of, json_response, principal, query, user
from hub.web.rest.sessions import SESSION
from hub.web.rest.table import RouteTable

__all__ = ["routes"]

routes = RouteTable()
POOL = "/api/pools/{pool_id}"
_POOL_ID = re.compile(r"^pol_[A-Za-z0-9_-]{21}$")


def pool_of(request: web.Request) -> str:
    pool_id = request.match_info["pool_id"]
    if not _POOL_ID.match(pool_id):
        raise HubError("not_found", f"no pool {pool_id[:64]!r}")
    return pool_id


@routes.post(
    "/api/pools",
    "Create a credit pool of yours, or of a space you own (it starts empty)",
    response=Pool,
    status=201,
    body=NewPool,
    errors=("not_found",),
)
async def create_pool(request: web.Request) -> web.Response:
    who = await user(request)
    req = await body(request, NewPool)
    return json_response(await hub_of(request).pools.create(who, req), 201)


@routes.get("/api/pools", "Your pools and your spaces' pools", response=PoolList)
async def list_pools(request: web.Request) -> web.Response:
    pools = await hub_of(request).pools.mine(await user(request))
    return json_response(PoolList(pools=pools))


@routes.get(POOL, "Read a pool: balance, reserved, spent", response=Pool, errors=("not_found",))
async def get_pool(request: web.Request) -> web.Response:
    who = await user(request)
    return json_response(await hub_of(request).pools.get(who, pool_of(request)))


@routes.post(
    POOL + "/grants",
    "Top a pool up (its owner; a space's owners): a grant ledger row",
    response=Pool,
    body=Grant,
    errors=("not_found",),
)
async def grant(request: web.Request) -> web.Response:
    who = await user(request)
    req = await body(request, Grant)
    return json_response(await hub_of(request).pools.grant(who, pool_of(request), req))


@routes.post(
    POOL + "/refunds",
    "Give back part of a finished job's charge (the pool's owner): a refund ledger row",
    response=Pool,
    body=Refund,
    errors=("not_found", "conflict"),
)
async def refund(request: web.Request) -> web.Response:
    who = await user(request)
    req = await body(request, Refund)
    return json_response(await hub_of(request).pools.refund(who, pool_of(request), req))


@routes.get(
    POOL + "/ledger",
    "A pool's ledger, newest first: grant, reserve, settle, release, refund",
    response=LedgerPage,
    query=LedgerQuery,
    errors=("not_found",),
)
async def ledger(request: web.Request) -> web.Response:
    who = await user(request)
    q = query(request, LedgerQuery)
    page = await hub_of(request).pools.ledger(who, pool_of(request), q.before, q.limit)
    return json_response(page)


@routes.put(
    SESSION + "/pool",
    "Make the session's jobs draw on a pool (agent A): its verified owner's or its space's",
    response=SessionPool,
    body=SetSessionPool,
    errors=("not_found", "session_completed"),
)
async def set_session_pool(request: web.Request) -> web.Response:
    who = await principal(request)
    req = await body(request, SetSessionPool)
    return json_response(await hub_of(request).pools.set_for_session(who, req.pool_id))


@routes.get(
    SESSION + "/pool",
    "The pool the session draws on, with its balance",
    response=SessionPool,
    errors=("not_found",),
)
async def get_session_pool(request: web.Request) -> web.Response:
    who = await principal(request)
    return json_response(await hub_of(request).pools.for_session(who))
