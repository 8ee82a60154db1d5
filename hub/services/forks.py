"""Forks: a session made from another at message N, with messages 1..N and the notes and
files as they stood after N, answered like a created session (new tokens and invite, shown
once); and the list of a session's forks.

Who forks: agent A or agent B of the session (the `fork` action; observers watch, they
do not fork). The forker becomes the fork's agent A, under its participant id, verified
as the same agent profile (at its current configuration revision) if its slot in the
origin was. The fork goes in the origin's space only if the forker may create sessions
there, that is, it is a verified agent whose owner is an owner or member of the space,
and the space is not archived; otherwise in none.
"""

from __future__ import annotations

from hub import api
from hub.config import Config
from hub.domain import Principal, Session, fork_point, new_session_id, require, space_allows
from hub.domain.cursors import decode_time_cursor
from hub.errors import HubError
from hub.services.access import Access
from hub.services.sessions import Sessions, agent_a_of
from hub.store import Connection, Store, changes
from hub.store import forks as fork_store
from hub.store import sessions as session_store
from hub.store import spaces as space_store
from hub.store.forks import SlotProfile

__all__ = ["Forks"]


class Forks:
    def __init__(self, config: Config, store: Store, access: Access, sessions: Sessions) -> None:
        self._config = config
        self._store = store
        self._access = access
        self._sessions = sessions

    async def fork(
        self, principal: Principal, req: api.ForkSession, client_key: str
    ) -> api.CreatedSession:
        """Fork the principal's session at `req.at_message_id` (default: its last
        message), in one transaction; rate-limited with session creation. The copy is
        exact under concurrent writes to the origin (`hub.store.forks`)."""
        require(principal, "fork")
        await self._access.limit(
            "create",
            client_key,
            self._config.session_creations_per_minute,
            "too many sessions created from your address; wait a minute",
        )
        ttl = req.invite_ttl_seconds or self._config.invite_ttl_seconds
        origin_id = principal.session_id

        async def open_fork(conn: Connection, invite_code: str) -> Session:
            origin = await session_store.get_session(conn, origin_id)
            fork_point(req.at_message_id, origin.last_message_id)  # fail early, cheaply
            profile = await fork_store.slot_profile(conn, origin_id, principal.role)
            fork = await session_store.create_session(
                conn,
                session_id=new_session_id(),
                name=req.name or origin.name,
                name_is_auto=req.name is None,
                mode=origin.mode,
                is_private=origin.is_private,
                agent_a_id=principal.participant_id,
                invite_code=invite_code,
                invite_ttl_seconds=ttl,
                workspace_id=None,
                metadata=origin.metadata,
                creator_type="agent",
                creator_name=None,
                agent_a_profile=None if profile is None else (profile.profile_id, profile.revision),
                template=None
                if origin.template_id is None or origin.template_version is None
                else (origin.template_id, origin.template_version),
            )
            copied = await fork_store.copy_state(conn, origin_id, fork.id, req.at_message_id)
            if copied.deleted:
                raise HubError("session_deleted", "the session was deleted")
            at = fork_point(req.at_message_id, copied.last_message_id)
            # The origin's row is locked (key share, by the reference) only from here to
            # the commit, and before its space: the order `move` takes them in.
            await fork_store.link_origin(conn, fork.id, origin_id, at)
            space_id = await _space_for_fork(conn, origin_id, profile)
            if space_id is not None:
                await session_store.update_session(conn, fork.id, workspace_id=space_id)
            await changes.record_as(
                conn, principal, "session.forked", {"fork_id": fork.id, "at_message_id": at}
            )
            await changes.record_as(
                conn,
                agent_a_of(fork),
                "session.forked_from",
                {"session_id": origin_id, "at_message_id": at, "name": fork.name},
            )
            return await session_store.get_session(conn, fork.id)

        return await self._sessions.issue(open_fork)

    async def list(self, principal: Principal, q: api.ForksQuery) -> api.ForkPage:
        """The session's forks, newest first (any token of the session)."""
        async with self._store.connection() as conn:
            page = await fork_store.list_forks(
                conn, principal.session_id, q.limit, decode_time_cursor(q.cursor)
            )
        return api.ForkPage.of(page, q.limit)


async def _space_for_fork(
    conn: Connection, origin_id: str, profile: SlotProfile | None
) -> str | None:
    """The origin's space, if the forker may create sessions there (a verified agent
    whose owner is an owner or member, the space not archived), else None. Reads the
    origin's space after its row is locked (so a move has finished), and the role after
    the space's row is (FOR SHARE: archiving and membership changes wait for the fork)."""
    space_id = await fork_store.origin_space(conn, origin_id)
    if space_id is None or profile is None:
        return None
    space = await space_store.find_space(conn, space_id, profile.owner_id, lock="SHARE")
    if space is None or space.archived or not space_allows(space.role, "create_session"):
        return None
    return space_id
