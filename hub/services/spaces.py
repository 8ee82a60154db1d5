"""Spaces: a person's group of sessions with members by role (owner, member, viewer;
see `hub.domain.spaces`). To a person who is not a member, a space does not exist
(`not_found`); a member whose role does not allow an action gets `forbidden`."""

from __future__ import annotations

from typing import Any

from hub import api
from hub.domain import (
    AgentPrincipal,
    Session,
    Space,
    SpaceAction,
    SpaceMember,
    SpaceRole,
    UserPrincipal,
    new_space_id,
    space_allows,
)
from hub.domain.cursors import decode_time_cursor
from hub.errors import HubError
from hub.protocol import SessionEvent
from hub.services.events import Events
from hub.store import Connection, Store, changes
from hub.store import sessions as session_store
from hub.store import spaces as space_store
from hub.store import users as user_store
from hub.store.spaces import SpaceRow

__all__ = ["Spaces", "readable_space", "space_for_new_session"]


def _no_such(ref: str) -> HubError:
    return HubError("not_found", f"no space {ref[:64]!r}")


async def _space(
    conn: Connection, ref: str, user_id: str, action: SpaceAction, *, lock: str | None = None
) -> SpaceRow:
    """The space `ref` names, if the person may do `action` in it: `not_found` to a
    non-member, `forbidden` to a member whose role does not allow it."""
    found = await space_store.find_space(conn, ref, user_id, lock=lock)
    if found is None or found.role is None:
        raise _no_such(ref)
    if not space_allows(found.role, action):
        raise HubError("forbidden", f"a space's {found.role} may not do that")
    return found


async def readable_space(conn: Connection, ref: str, user_id: str) -> str:
    """The id of the space `ref` names, if the person may watch its sessions (any
    member); `not_found` otherwise."""
    return (await _space(conn, ref, user_id, "watch")).id


async def space_for_new_session(conn: Connection, ref: str, agent: AgentPrincipal | None) -> str:
    """The id of the space a new session goes in: only a verified agent (agent key)
    whose owner is an owner or member of the space, not archived. Holds the space's row
    (FOR SHARE) until the caller's transaction ends, so archiving waits for it."""
    if agent is None:
        raise HubError(
            "forbidden", "only a verified agent (an agent key) creates sessions in a space"
        )
    space = await _space(conn, ref, agent.owner_id, "create_session", lock="SHARE")
    if space.archived:
        raise HubError("forbidden", f"the space {space.slug!r} is archived")
    return space.id


class Spaces:
    def __init__(self, store: Store, events: Events) -> None:
        self._store = store
        self._events = events

    async def create(self, who: UserPrincipal, req: api.NewSpace) -> Space:
        """A new space with the caller as its owner; `conflict` if the slug is taken."""
        async with self._store.transaction() as conn:
            space = await space_store.create_space(
                conn,
                space_id=new_space_id(),
                user_id=who.user_id,
                slug=req.slug,
                name=req.name,
                description=req.description,
            )
            await changes.audit(conn, who, who.user_id, "space.created", {"space_id": space.id})
        return space

    async def mine(self, who: UserPrincipal) -> list[Space]:
        async with self._store.connection() as conn:
            return await space_store.list_spaces(conn, who.user_id)

    async def get(self, who: UserPrincipal, ref: str) -> Space:
        async with self._store.connection() as conn:
            space = await _space(conn, ref, who.user_id, "watch")
            return await space_store.space_view(conn, space.id, who.user_id)

    async def update(self, who: UserPrincipal, ref: str, req: api.SpaceUpdate) -> Space:
        """Rename, describe, archive or unarchive (owners)."""
        async with self._store.transaction() as conn:
            space = await _space(conn, ref, who.user_id, "manage", lock="UPDATE")
            changed: dict[str, Any] = {}
            if req.name is not None:
                changed["name"] = req.name
            if req.description is not None:
                changed["description"] = req.description
            if changed:
                await space_store.update_space(conn, space.id, **changed)
                await changes.audit(
                    conn, who, who.user_id, "space.updated", {"space_id": space.id, **changed}
                )
            if req.archived is not None and req.archived != space.archived:
                await space_store.set_archived(conn, space.id, req.archived)
                await changes.audit(
                    conn,
                    who,
                    who.user_id,
                    "space.archived" if req.archived else "space.unarchived",
                    {"space_id": space.id},
                )
            return await space_store.space_view(conn, space.id, who.user_id)

    async def members(self, who: UserPrincipal, ref: str) -> list[SpaceMember]:
        async with self._store.connection() as conn:
            space = await _space(conn, ref, who.user_id, "watch")
            return await space_store.list_members(conn, space.id)

    async def put_member(
        self, who: UserPrincipal, ref: str, username: str, role: SpaceRole
    ) -> tuple[SpaceMember, bool]:
        """Add a person by username with `role`, or change a member's role (owners). The
        last owner cannot be made anything else (`conflict`). A changed role revokes
        the watch tokens the person took through the space (they watch again on the new
        role's terms)."""
        revoked: list[tuple[str, str]] = []
        async with self._store.transaction() as conn:
            space = await _space(conn, ref, who.user_id, "manage", lock="UPDATE")
            user_id = await user_store.user_id_of(conn, username)
            if user_id is None:
                raise HubError("not_found", f"no person {username[:64]!r}")
            current = await space_store.member_role(conn, space.id, user_id)
            if current == "owner" and role != "owner":
                await _keep_an_owner(conn, space.id)
            member, added = await space_store.put_member(conn, space.id, user_id, role, who.user_id)
            if current is not None and current != role:
                revoked = await session_store.revoke_watchers(conn, space.id, user_id=user_id)
            if added or current != role:
                await changes.audit(
                    conn,
                    who,
                    who.user_id,
                    "space.member_added" if added else "space.member_changed",
                    {"space_id": space.id, "username": member.username, "role": role},
                )
        await self._events.revoke(revoked)
        return member, added

    async def remove_member(self, who: UserPrincipal, ref: str, username: str) -> None:
        """Take a person out of the space: owners remove anyone, anyone removes
        themselves (leaves); the last owner cannot go (`conflict`). The watch tokens
        they took through the space are revoked and their connections closed."""
        async with self._store.transaction() as conn:
            space = await _space(conn, ref, who.user_id, "watch", lock="UPDATE")
            user_id = await user_store.user_id_of(conn, username)
            if user_id != who.user_id and not space_allows(space.role, "manage"):
                raise HubError("forbidden", "only an owner removes another member")
            role = (
                None if user_id is None else await space_store.member_role(conn, space.id, user_id)
            )
            if user_id is None or role is None:
                raise HubError("not_found", f"{username[:64]!r} is not a member")
            if role == "owner":
                await _keep_an_owner(conn, space.id)
            await space_store.remove_member(conn, space.id, user_id)
            revoked = await session_store.revoke_watchers(conn, space.id, user_id=user_id)
            await changes.audit(
                conn,
                who,
                who.user_id,
                "space.member_removed",
                {"space_id": space.id, "username": username},
            )
        await self._events.revoke(revoked)

    async def sessions(
        self, who: UserPrincipal, ref: str, q: api.SpaceSessionsQuery
    ) -> api.SessionPage:
        """The space's sessions, newest first (any member)."""
        async with self._store.connection() as conn:
            space = await _space(conn, ref, who.user_id, "watch")
            page = await session_store.session_page(
                conn,
                session_store.IN_SPACE,
                space.id,
                q.status,
                q.limit,
                decode_time_cursor(q.cursor),
            )
        return api.SessionPage.of(page, q.limit)

    async def move(self, who: UserPrincipal, session_id: str, target: str | None) -> Session:
        """Move a session into a space, to another, or out of its space. The caller
        manages where it is (an owner of its space; with no space, the owner of its
        verified agent A) and may create sessions where it goes (not archived)."""
        async with self._store.transaction() as conn:
            if await session_store.watch_grounds(conn, session_id, who.user_id) is None:
                raise HubError("session_not_found", "no such session among yours")
            current = await session_store.lock_session(conn, session_id)
            target_id = None
            if target is not None:
                target_id = (await _space(conn, target, who.user_id, "create_session")).id
            # Both spaces, in one order: the source's lock makes a watch through it wait
            # (or this wait for the watch, whose token is then revoked below).
            await space_store.lock_spaces(conn, [current.workspace_id, target_id])
            if current.workspace_id is not None:
                role = await space_store.member_role(conn, current.workspace_id, who.user_id)
                allowed = space_allows(role, "manage")
            else:
                allowed = await session_store.agent_a_owned_by(conn, session_id, who.user_id)
            if not allowed:
                raise HubError("forbidden", "only an owner of its space moves this session")
            if target is not None:
                space = await _space(conn, target, who.user_id, "create_session")
                if space.archived:
                    raise HubError("forbidden", f"the space {space.slug!r} is archived")
            if target_id == current.workspace_id:
                return current
            session = await session_store.update_session(conn, session_id, workspace_id=target_id)
            revoked = (
                []
                if current.workspace_id is None
                else await session_store.revoke_watchers(
                    conn, current.workspace_id, session_id=session_id
                )
            )
            detail = {"from": current.workspace_id, "to": target_id}
            await changes.record(conn, session_id, who.username, "system", "session.moved", detail)
            await changes.audit(
                conn, who, who.user_id, "session.moved", {"session_id": session_id, **detail}
            )
        await self._events.publish(session.id, SessionEvent(session=session))
        await self._events.revoke(revoked)
        return session


async def _keep_an_owner(conn: Connection, space_id: str) -> None:
    """Refuse (`conflict`) a change that would leave the space (locked) with no owner."""
    if await space_store.owner_count(conn, space_id) <= 1:
        raise HubError("conflict", "a space keeps at least one owner: make another owner first")
