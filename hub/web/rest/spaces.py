"""REST routes of spaces (user key): one's spaces, their members by role, their
sessions, and moving a session between spaces. To a person who is not a member, a space
is `not_found`."""

from __future__ import annotations

import re

from aiohttp import web

from hub import api
from hub.domain import Session, Space, SpaceMember
from hub.domain.identity import USERNAME_PATTERN
from hub.domain.spaces import SPACE_REF_PATTERN
from hub.errors import HubError
from hub.web.http import body, hub_of, json_response, query, session_id, user
from hub.web.rest.table import RouteTable

__all__ = ["routes"]

routes = RouteTable()
SPACE = "/api/spaces/{space}"
MEMBER = SPACE + "/members/{username}"
_SPACE = re.compile(SPACE_REF_PATTERN)
_USERNAME = re.compile(USERNAME_PATTERN)


def space_of(request: web.Request) -> str:
    ref = request.match_info["space"]
    if not _SPACE.match(ref):
        raise HubError("not_found", f"no space {ref[:64]!r}")
    return ref


def username_of(request: web.Request) -> str:
    name = request.match_info["username"]
    if not _USERNAME.match(name):
        raise HubError("not_found", f"no person {name[:64]!r}")
    return name


@routes.post(
    "/api/spaces",
    "Create a space; you are its owner",
    response=Space,
    status=201,
    body=api.NewSpace,
    errors=("conflict",),
)
async def create_space(request: web.Request) -> web.Response:
    who = await user(request)
    req = await body(request, api.NewSpace)
    return json_response(await hub_of(request).spaces.create(who, req), 201)


@routes.get("/api/spaces", "The spaces you are a member of, with your role", response=api.SpaceList)
async def list_spaces(request: web.Request) -> web.Response:
    spaces = await hub_of(request).spaces.mine(await user(request))
    return json_response(api.SpaceList(spaces=spaces))


@routes.get(
    SPACE, "A space you are a member of (by slug or id)", response=Space, errors=("not_found",)
)
async def get_space(request: web.Request) -> web.Response:
    who = await user(request)
    return json_response(await hub_of(request).spaces.get(who, space_of(request)))


@routes.patch(
    SPACE,
    "Rename, describe, archive or unarchive a space (owners)",
    response=Space,
    body=api.SpaceUpdate,
    errors=("not_found", "forbidden"),
)
async def update_space(request: web.Request) -> web.Response:
    who = await user(request)
    req = await body(request, api.SpaceUpdate)
    space = await hub_of(request).spaces.update(who, space_of(request), req)
    return json_response(space)


@routes.get(
    SPACE + "/members",
    "The space's members and their roles (any member)",
    response=api.MemberList,
    errors=("not_found",),
)
async def list_members(request: web.Request) -> web.Response:
    who = await user(request)
    members = await hub_of(request).spaces.members(who, space_of(request))
    return json_response(api.MemberList(members=members))


@routes.put(
    MEMBER,
    "Add a person by username with a role, or change a member's role (owners; the last"
    " owner stays an owner: conflict)",
    response=SpaceMember,
    status=201,
    body=api.MemberRole,
    errors=("not_found", "forbidden", "conflict"),
    also=((200, "A member's role changed", SpaceMember),),
)
async def put_member(request: web.Request) -> web.Response:
    who = await user(request)
    req = await body(request, api.MemberRole)
    member, added = await hub_of(request).spaces.put_member(
        who, space_of(request), username_of(request), req.role
    )
    return json_response(member, 201 if added else 200)


@routes.delete(
    MEMBER,
    "Remove a member (owners), or leave (yourself); the last owner cannot go (conflict)",
    status=204,
    errors=("not_found", "forbidden", "conflict"),
)
async def remove_member(request: web.Request) -> web.Response:
    who = await user(request)
    await hub_of(request).spaces.remove_member(who, space_of(request), username_of(request))
    return web.Response(status=204)


@routes.get(
    SPACE + "/sessions",
    "The space's sessions, newest first (any member; keyset pages)",
    response=api.SessionPage,
    query=api.SpaceSessionsQuery,
    errors=("not_found",),
)
async def space_sessions(request: web.Request) -> web.Response:
    who = await user(request)
    q = query(request, api.SpaceSessionsQuery)
    page = await hub_of(request).spaces.sessions(who, space_of(request), q)
    return json_response(page)


@routes.put(
    "/api/sessions/{session_id}/space",
    "Move a session into a space, to another, or out (`space`: null): an owner of its"
    " space (or, with none, the owner of its verified agent A) who may create sessions"
    " where it goes",
    response=Session,
    body=api.MoveSession,
    errors=("not_found", "forbidden", "session_not_found", "session_deleted"),
)
async def move_session(request: web.Request) -> web.Response:
    who = await user(request)
    req = await body(request, api.MoveSession)
    session = await hub_of(request).spaces.move(who, session_id(request), req.space)
    return json_response(session)
