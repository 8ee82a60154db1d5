"""REST routes of the credentials vault: one's own named secrets, by user key.

Names travel in the path (they are not secret); values only in bodies, never in a URL.
A value is answered with `Cache-Control: no-store`."""

from __future__ import annotations

import msgspec
from aiohttp import web

from hub import api
from hub.domain import Secret, SecretName
from hub.errors import HubError
from hub.web.http import agent_key, body, hub_of, json_response, user
from hub.web.rest.table import RouteTable

__all__ = ["routes"]

routes = RouteTable()

SECRET = "/api/me/secrets/{secret_name}"


def _name(request: web.Request) -> str:
    name = request.match_info["secret_name"]
    try:
        return msgspec.convert(name, SecretName)
    except msgspec.ValidationError as exc:
        raise HubError("bad_request", f"secret name: {exc}") from None


@routes.get(
    "/api/me/secrets",
    "Your secrets: names and times, never values",
    response=api.SecretList,
)
async def list_secrets(request: web.Request) -> web.Response:
    found = await hub_of(request).secrets.listing(await user(request))
    return json_response(api.SecretList(secrets=found))


@routes.put(
    SECRET,
    "Set a secret (201), or replace its value (200); stored encrypted",
    response=Secret,
    status=201,
    body=api.SetSecret,
    also=((200, "Replaced", Secret),),
)
async def set_secret(request: web.Request) -> web.Response:
    who = await user(request)
    name = _name(request)
    req = await body(request, api.SetSecret)
    secret, created = await hub_of(request).secrets.put(who, name, req.value)
    return json_response(secret, 201 if created else 200)


@routes.get(
    SECRET,
    "A secret's value, to its owner (user key) or the owner's agents (agent key), each"
    " read audited; `conflict` if it no longer decrypts",
    response=api.RevealedSecret,
    errors=("not_found", "conflict"),
)
async def read_secret(request: web.Request) -> web.Response:
    name = _name(request)
    key = agent_key(request)
    who = None if key is not None else await user(request)
    value = await hub_of(request).secrets.read(name, who=who, agent_key=key)
    response = json_response(api.RevealedSecret(name=name, value=value))
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.delete(
    SECRET,
    "Delete a secret for good (audited)",
    status=204,
    errors=("not_found",),
)
async def delete_secret(request: web.Request) -> web.Response:
    who = await user(request)
    await hub_of(request).secrets.delete(who, _name(request))
    return web.Response(status=204)
