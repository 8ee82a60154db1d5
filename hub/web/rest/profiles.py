"""REST routes of agent profiles: one's agents, their agent keys and their versioned
configuration (user key; only the owner sees keys and configuration or changes anything;
to anyone else those are `not_found`)."""

from __future__ import annotations

import re

from aiohttp import web

from hub import api
from hub.api.profiles import MAX_REVISION
from hub.domain import AgentKey, AgentProfile, ConfigRevision
from hub.domain.profiles import SLUG_PATTERN
from hub.errors import HubError
from hub.web.http import body, hub_of, json_response, parse_id, query, user
from hub.web.rest.table import RouteTable

__all__ = ["routes"]

routes = RouteTable()
AGENT = "/api/agents/{slug}"
_SLUG = re.compile(SLUG_PATTERN)


def slug_of(request: web.Request) -> str:
    slug = request.match_info["slug"]
    if not _SLUG.match(slug):
        raise HubError("not_found", f"no agent {slug[:64]!r}")
    return slug


def _revision(request: web.Request) -> int:
    raw = request.match_info["revision"]
    revision = parse_id(raw)
    if revision is None or not 1 <= revision <= MAX_REVISION:
        raise HubError("not_found", f"no configuration revision {raw[:32]!r}")
    return revision


@routes.post(
    "/api/me/agents",
    "Create an agent profile (at configuration revision 1)",
    response=AgentProfile,
    status=201,
    body=api.NewProfile,
    errors=("conflict",),
)
async def create_profile(request: web.Request) -> web.Response:
    who = await user(request)
    req = await body(request, api.NewProfile)
    return json_response(await hub_of(request).profiles.create(who, req), 201)


@routes.get("/api/me/agents", "Your agent profiles", response=api.ProfileList)
async def list_profiles(request: web.Request) -> web.Response:
    profiles = await hub_of(request).profiles.mine(await user(request))
    return json_response(api.ProfileList(profiles=profiles))


@routes.get(
    AGENT,
    "An agent profile: yours, or anyone's public one",
    response=AgentProfile,
    errors=("not_found",),
)
async def get_profile(request: web.Request) -> web.Response:
    who = await user(request)
    return json_response(await hub_of(request).profiles.get(who, slug_of(request)))


@routes.patch(
    AGENT,
    "Change your agent's name, description, skills, visibility or avatar",
    response=AgentProfile,
    body=api.ProfileUpdate,
    errors=("not_found",),
)
async def update_profile(request: web.Request) -> web.Response:
    who = await user(request)
    req = await body(request, api.ProfileUpdate)
    return json_response(await hub_of(request).profiles.update(who, slug_of(request), req))


@routes.post(
    AGENT + "/keys",
    "A new agent key (agk_…) for your agent, shown once",
    response=api.CreatedAgentKey,
    status=201,
    body=api.NewAgentKey,
    errors=("not_found",),
)
async def create_key(request: web.Request) -> web.Response:
    who = await user(request)
    req = await body(request, api.NewAgentKey)
    created = await hub_of(request).profiles.create_key(who, slug_of(request), req.name)
    return json_response(created, 201)


@routes.get(
    AGENT + "/keys",
    "Your agent's keys, revoked ones too (never their text)",
    response=api.AgentKeyList,
    errors=("not_found",),
)
async def list_keys(request: web.Request) -> web.Response:
    keys = await hub_of(request).profiles.keys(await user(request), slug_of(request))
    return json_response(api.AgentKeyList(keys=keys))


@routes.delete(
    AGENT + "/keys/{key_id}",
    "Revoke one of your agent's keys (it stops working at once)",
    response=AgentKey,
    errors=("not_found",),
)
async def revoke_key(request: web.Request) -> web.Response:
    who = await user(request)
    key = await hub_of(request).profiles.revoke_key(
        who, slug_of(request), request.match_info["key_id"]
    )
    return json_response(key)


@routes.get(
    AGENT + "/config",
    "Your agent's current configuration revision",
    response=ConfigRevision,
    errors=("not_found",),
)
async def get_config(request: web.Request) -> web.Response:
    who = await user(request)
    return json_response(await hub_of(request).profiles.config(who, slug_of(request)))


@routes.put(
    AGENT + "/config",
    "Change the configuration at expected_revision: revision N+1 (or conflict with the"
    " current revision)",
    response=ConfigRevision,
    body=api.ConfigUpdate,
    errors=("not_found", "conflict"),
)
async def put_config(request: web.Request) -> web.Response:
    who = await user(request)
    req = await body(request, api.ConfigUpdate)
    return json_response(await hub_of(request).profiles.revise(who, slug_of(request), req))


@routes.get(
    AGENT + "/config/schema",
    "Your agent's configuration schema (JSON Schema draft 2020-12), null if none",
    response=api.ConfigSchema,
    errors=("not_found",),
)
async def get_config_schema(request: web.Request) -> web.Response:
    who = await user(request)
    return json_response(await hub_of(request).profiles.config_schema(who, slug_of(request)))


@routes.put(
    AGENT + "/config/schema",
    "Set (or, with null, clear) the schema every configuration revision must satisfy; one"
    " the current revision does not satisfy is bad_request",
    response=api.ConfigSchema,
    body=api.SetConfigSchema,
    errors=("not_found",),
)
async def put_config_schema(request: web.Request) -> web.Response:
    who = await user(request)
    req = await body(request, api.SetConfigSchema)
    found = await hub_of(request).profiles.set_config_schema(who, slug_of(request), req)
    return json_response(found)


@routes.get(
    AGENT + "/config/revisions",
    "The configuration's history, newest first (keyset paginated)",
    response=api.RevisionPage,
    query=api.RevisionQuery,
    errors=("not_found",),
)
async def list_revisions(request: web.Request) -> web.Response:
    who = await user(request)
    q = query(request, api.RevisionQuery)
    return json_response(await hub_of(request).profiles.history(who, slug_of(request), q))


@routes.get(
    AGENT + "/config/revisions/{revision}",
    "One configuration revision",
    response=ConfigRevision,
    errors=("not_found",),
)
async def get_revision(request: web.Request) -> web.Response:
    who = await user(request)
    found = await hub_of(request).profiles.revision(who, slug_of(request), _revision(request))
    return json_response(found)


@routes.get(
    AGENT + "/config/diff",
    "What changed between two revisions, by JSON path",
    response=api.RevisionDiff,
    query=api.ConfigDiffQuery,
    errors=("not_found",),
)
async def diff_config(request: web.Request) -> web.Response:
    who = await user(request)
    q = query(request, api.ConfigDiffQuery)
    return json_response(await hub_of(request).profiles.diff(who, slug_of(request), q.from_, q.to))


@routes.post(
    AGENT + "/config/rollback",
    "A new revision equal to revision `to`, at expected_revision (history is kept)",
    response=ConfigRevision,
    status=201,
    body=api.Rollback,
    errors=("not_found", "conflict"),
)
async def rollback_config(request: web.Request) -> web.Response:
    who = await user(request)
    req = await body(request, api.Rollback)
    return json_response(await hub_of(request).profiles.rollback(who, slug_of(request), req), 201)
