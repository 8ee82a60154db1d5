"""Credit pools: a person's or a space's credits, topped up by their owners and drawn on
by sessions' jobs (`hub.domain.pools`).

A person's pool is theirs alone: they create it, top it up, read it and its ledger. A
space's pool is created and topped up by the space's owners and read by any member. To
anyone else a pool does not exist (`not_found`). Agent A names the pool its session
draws on; any participant reads it (its balance is what the page shows).
"""

from __future__ import annotations

from hub.api.pools import Grant, LedgerPage, NewPool, Refund
from hub.domain import Principal, UserPrincipal, require
from hub.domain.pools import LedgerEntry, Pool, SessionPool, check_draw, new_pool_id
from hub.domain.spaces import SpaceAction, space_allows
from hub.errors import HubError
from hub.protocol import JobEvent
from hub.services.events import Events
from hub.store import Connection, Store, changes
from hub.store import jobs as job_store
from hub.store import pools as pool_store
from hub.store import sessions as session_store
from hub.store import spaces as space_store
from hub.store.pools import PoolRow

__all__ = ["Pools", "owned_space"]


async def owned_space(conn: Connection, ref: str, user_id: str, action: SpaceAction) -> str:
    """The id of the space `ref` names if the person may do `action` in it: `not_found`
    to a non-member, `forbidden` to a member whose role does not allow it."""
    found = await space_store.find_space(conn, ref, user_id)
    if found is None or found.role is None:
        raise HubError("not_found", f"no space {ref[:64]!r}")
    if not space_allows(found.role, action):
        raise HubError("forbidden", f"a space's {found.role} may not do that")
    return found.id


async def _pool(
    conn: Connection, pool_id: str, user_id: str, action: SpaceAction, *, lock: bool = False
) -> PoolRow:
    """The pool, if the person owns it or may do `action` in its space."""
    found = await pool_store.find_pool(conn, pool_id, lock=lock)
    missing = HubError("not_found", f"no pool {pool_id[:64]!r}")
    if found is None:
        raise missing
    if found.owner_user_id is not None:
        if found.owner_user_id != user_id:
            raise missing
        return found
    assert found.owner_space_id is not None
    role = await space_store.member_role(conn, found.owner_space_id, user_id)
    if role is None:
        raise missing
    if not space_allows(role, action):
        raise HubError("forbidden", f"a space's {role} may not do that")
    return found


class Pools:
    def __init__(self, store: Store, events: Events) -> None:
        self._store = store
        self._events = events

    async def create(self, who: UserPrincipal, req: NewPool) -> Pool:
        """A new, empty pool of the caller's, or of a space they own."""
        async with self._store.transaction() as conn:
            space_id = None
            if req.space is not None:
                space_id = await owned_space(conn, req.space, who.user_id, "manage")
            found = await pool_store.create_pool(
                conn,
                new_pool_id(),
                req.name,
                user_id=None if space_id else who.user_id,
                space_id=space_id,
                created_by=who.user_id,
            )
            await changes.audit(
                conn,
                who,
                who.user_id,
                "pool.created",
                {"pool_id": found.pool.id, "space_id": space_id},
            )
        return found.pool

    async def mine(self, who: UserPrincipal) -> list[Pool]:
        async with self._store.connection() as conn:
            return await pool_store.list_pools(conn, who.user_id)

    async def get(self, who: UserPrincipal, pool_id: str) -> Pool:
        async with self._store.connection() as conn:
            return (await _pool(conn, pool_id, who.user_id, "watch")).pool

    async def grant(self, who: UserPrincipal, pool_id: str, req: Grant) -> Pool:
        """Top the pool up (its owner; a space's owners)."""
        async with self._store.transaction() as conn:
            found = await _pool(conn, pool_id, who.user_id, "manage", lock=True)
            await pool_store.grant(conn, pool_id, req.amount, who.username, req.note)
            await changes.audit(
                conn, who, who.user_id, "pool.granted", {"pool_id": pool_id, "amount": req.amount}
            )
            refreshed = await pool_store.find_pool(conn, found.pool.id)
        assert refreshed is not None
        return refreshed.pool

    async def refund(self, who: UserPrincipal, pool_id: str, req: Refund) -> Pool:
        """Give back part or all of a finished job's charge (its pool's owner; a space's
        owners); `conflict` if the job is not this pool's, not finished, or was charged
        less than that (refunds included). The job's session gets its `job` event."""
        async with self._store.transaction() as conn:
            await _pool(conn, pool_id, who.user_id, "manage")
            session_id = await pool_store.refund(
                conn, pool_id, req.job_id, req.amount, who.username, req.note
            )
            if session_id is None:
                raise HubError(
                    "conflict",
                    "only a finished job of this pool, and at most what it was charged,"
                    " is refunded",
                )
            job = await job_store.get_job(conn, session_id, req.job_id)
            assert job is not None
            await changes.record(
                conn,
                session_id,
                who.username,
                "system",
                "job.refunded",
                {"job_id": req.job_id, "amount": req.amount},
                outbox=("job.updated", JobEvent(job=job)),
            )
            await changes.audit(
                conn,
                who,
                who.user_id,
                "pool.refunded",
                {"pool_id": pool_id, "job_id": req.job_id, "amount": req.amount},
            )
            found = await pool_store.find_pool(conn, pool_id)
        assert found is not None
        await self._events.publish(session_id, JobEvent(job=job))
        return found.pool

    async def ledger(
        self, who: UserPrincipal, pool_id: str, before: int | None, limit: int
    ) -> LedgerPage:
        """The pool's ledger, newest first."""
        async with self._store.connection() as conn:
            await _pool(conn, pool_id, who.user_id, "watch")
            entries: list[LedgerEntry] = await pool_store.ledger_page(conn, pool_id, before, limit)
        more = len(entries) == limit
        return LedgerPage(entries=entries, next_before=entries[-1].id if more else None)

    async def set_for_session(self, who: Principal, pool_id: str) -> SessionPool:
        """Make the session draw on `pool_id` (agent A): a pool of the person whose
        verified agent A runs it, or of its space (`forbidden` otherwise)."""
        require(who, "set_pool")
        async with self._store.transaction() as conn:
            await session_store.hold_for_write(conn, who.session_id)
            found = await pool_store.find_pool(conn, pool_id)
            if found is None:
                raise HubError("not_found", f"no pool {pool_id[:64]!r}")
            grounds = await pool_store.session_grounds(conn, who.session_id)
            check_draw(
                pool_user_id=found.owner_user_id,
                pool_space_id=found.owner_space_id,
                agent_a_owner_id=grounds[0],
                session_space_id=grounds[1],
            )
            await pool_store.set_session_pool(conn, who.session_id, pool_id, who.participant_id)
            await changes.record_as(conn, who, "session.pool_set", {"pool_id": pool_id})
            current = await pool_store.session_pool(conn, who.session_id)
        assert current is not None
        return current

    async def for_session(self, who: Principal) -> SessionPool:
        """The pool the session draws on (any participant); `not_found` if none."""
        require(who, "read")
        async with self._store.connection() as conn:
            current = await pool_store.session_pool(conn, who.session_id)
        if current is None:
            raise HubError("not_found", "this session draws on no pool (agent A sets one)")
        return current
