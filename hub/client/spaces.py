"""The REST API of spaces: a person's groups of sessions, their members by role, and
moving sessions between them. Everything here takes a user key (`usr_…`); a space is
named by its slug or its id (`spc_…`)."""

from __future__ import annotations

import urllib.parse
from typing import Unpack

from hub import api
from hub.client.errors import HubClientError
from hub.client.search import SessionFilters, session_filters
from hub.client.transport import RestClient
from hub.domain import Session, Space, SpaceMember, SpaceRole

__all__ = ["SpacesAPI"]


def _space(ref: str, rest: str = "") -> str:
    return "/api/spaces/" + urllib.parse.quote(ref, safe="") + rest


class SpacesAPI(RestClient):
    async def create_space(
        self, user_key: str, slug: str, name: str, *, description: str = ""
    ) -> Space:
        """A new space, with you as its owner; `HubClientError` `conflict` if the slug is
        taken, `bad_request` (before sending) if the slug starts with `spc_`."""
        try:
            body = api.NewSpace(slug=slug, name=name, description=description)
        except ValueError as exc:  # the slug check, answered as the hub would
            raise HubClientError("bad_request", str(exc)) from None
        return await self._typed(Space, "POST", "/api/spaces", token=user_key, body=body)

    async def spaces(self, user_key: str) -> list[Space]:
        """The spaces you are a member of, each with your role."""
        return (await self._typed(api.SpaceList, "GET", "/api/spaces", token=user_key)).spaces

    async def space(self, user_key: str, ref: str) -> Space:
        return await self._typed(Space, "GET", _space(ref), token=user_key)

    async def update_space(
        self,
        user_key: str,
        ref: str,
        *,
        name: str | None = None,
        description: str | None = None,
        archived: bool | None = None,
    ) -> Space:
        """Rename, describe, archive (`archived=True`) or unarchive a space (owners)."""
        body = api.SpaceUpdate(name=name, description=description, archived=archived)
        return await self._typed(Space, "PATCH", _space(ref), token=user_key, body=body)

    async def space_members(self, user_key: str, ref: str) -> list[SpaceMember]:
        listed = await self._typed(api.MemberList, "GET", _space(ref, "/members"), token=user_key)
        return listed.members

    async def set_space_member(
        self, user_key: str, ref: str, username: str, role: SpaceRole
    ) -> SpaceMember:
        """Add a person by username with `role`, or change a member's role (owners)."""
        path = _space(ref, "/members/" + urllib.parse.quote(username, safe=""))
        body = api.MemberRole(role=role)
        return await self._typed(SpaceMember, "PUT", path, token=user_key, body=body)

    async def remove_space_member(self, user_key: str, ref: str, username: str) -> None:
        """Remove a member (owners), or leave (your own username)."""
        path = _space(ref, "/members/" + urllib.parse.quote(username, safe=""))
        await self.request("DELETE", path, token=user_key)

    async def space_sessions(
        self,
        user_key: str,
        ref: str,
        **filters: Unpack[SessionFilters],
    ) -> api.SessionPage:
        """A page of the space's sessions, newest first; `.next` is the next cursor."""
        return await self._typed(
            api.SessionPage,
            "GET",
            _space(ref, "/sessions"),
            token=user_key,
            params=session_filters(filters),
        )

    async def move_session(self, user_key: str, session_id: str, space: str | None) -> Session:
        """Move a session into the space `space` (slug or id), or out of its space
        (None)."""
        path = f"/api/sessions/{urllib.parse.quote(session_id, safe='')}/space"
        body = api.MoveSession(space=space)
        return await self._typed(Session, "PUT", path, token=user_key, body=body)
