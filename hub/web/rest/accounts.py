"""REST routes of people: sign up, log in, and one's own account and keys."""

from __future__ import annotations

from aiohttp import web

from hub import api
from hub.domain import User, UserKey
from hub.web.addresses import request_client_key
from hub.web.http import body, hub_of, json_response, user
from hub.web.rest.table import RouteTable

__all__ = ["routes"]

routes = RouteTable()


@routes.post(
    "/api/users",
    "Sign up: create an account (then log in for a key)",
    response=User,
    status=201,
    body=api.SignUp,
    auth=False,
    errors=("bad_request", "conflict", "rate_limited", "unavailable"),
)
async def sign_up(request: web.Request) -> web.Response:
    req = await body(request, api.SignUp)
    created = await hub_of(request).accounts.sign_up(req, request_client_key(request))
    return json_response(created, 201)


@routes.post(
    "/api/login",
    "Log in: a new user key (usr_…), shown once",
    response=api.LoggedIn,
    status=201,
    body=api.LogIn,
    auth=False,
    errors=("bad_request", "unauthorized", "rate_limited", "unavailable"),
)
async def log_in(request: web.Request) -> web.Response:
    req = await body(request, api.LogIn)
    logged_in = await hub_of(request).accounts.log_in(req, request_client_key(request))
    return json_response(logged_in, 201)


@routes.get("/api/me", "Your account (user key)", response=User)
async def me(request: web.Request) -> web.Response:
    return json_response(await hub_of(request).accounts.me(await user(request)))


@routes.get(
    "/api/me/keys", "Your user keys, revoked ones too (never their text)", response=api.KeyList
)
async def list_keys(request: web.Request) -> web.Response:
    keys = await hub_of(request).accounts.keys(await user(request))
    return json_response(api.KeyList(keys=keys))


@routes.post(
    "/api/me/keys",
    "Another user key (for a program), shown once",
    response=api.CreatedKey,
    status=201,
    body=api.NewKey,
)
async def create_key(request: web.Request) -> web.Response:
    who = await user(request)
    req = await body(request, api.NewKey)
    return json_response(await hub_of(request).accounts.create_key(who, req.name), 201)


@routes.delete(
    "/api/me/keys/{key_id}",
    "Revoke one of your keys (it stops working at once)",
    response=UserKey,
    errors=("not_found",),
)
async def revoke_key(request: web.Request) -> web.Response:
    who = await user(request)
    key = await hub_of(request).accounts.revoke_key(who, request.match_info["key_id"])
    return json_response(key)
